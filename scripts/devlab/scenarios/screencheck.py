#!/usr/bin/env python3
"""Checks what a device-lab screen showed (QMP screendumps, binary PPM), stdlib only.

  screencheck.py match SCREEN.ppm EXPECTED.ppm [--unmirrored U.ppm] [--band ROWS] [--max-diff D]
      The screen shows the expected picture: mean absolute difference (0..255) below D outside
      the overlay band at the bottom (ROWS high); with --unmirrored, the screen is at least twice
      as far from the unmirrored picture, so it is the mirrored one. Also: no black border.
  screencheck.py overlay SCREEN.ppm --band ROWS [--rotate DEG]
      White overlay text in the bottom-left band of the upright picture.
  screencheck.py notice SCREEN.ppm
      A dimmed screen with white text in the middle (the "camera disconnected" notice).
  screencheck.py live SCREEN.ppm
      A live picture: bright and colourful, no notice dimming.
Prints one JSON line of figures; exits 1 with the reason when a check fails.
"""
import json
import sys


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = []
    i = 0
    while len(parts) < 4:
        while data[i:i + 1].isspace():
            i += 1
        if data[i:i + 1] == b"#":
            while data[i:i + 1] != b"\n":
                i += 1
            continue
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        parts.append(data[i:j])
        i = j
    if parts[0] != b"P6" or parts[3] != b"255":
        raise SystemExit(f"{path}: not an 8-bit binary PPM")
    w, h = int(parts[1]), int(parts[2])
    pixels = data[i + 1:i + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise SystemExit(f"{path}: truncated ({len(pixels)} of {w * h * 3} bytes)")
    return w, h, pixels


def rotate_upright(w, h, px, deg):
    """The upright picture from a panel turned by `deg` clockwise (undo the mirror's rotation)."""
    if deg == 0:
        return w, h, px
    out = bytearray(len(px))
    if deg == 90:  # panel (x, y) <- picture (y, ph-1-x); picture is h x w
        pw, ph = h, w
        for y in range(ph):
            for x in range(pw):
                s = (x * w + (w - 1 - y)) * 3
                d = (y * pw + x) * 3
                out[d:d + 3] = px[s:s + 3]
        return pw, ph, bytes(out)
    if deg == 180:
        for y in range(h):
            for x in range(w):
                s = ((h - 1 - y) * w + (w - 1 - x)) * 3
                d = (y * w + x) * 3
                out[d:d + 3] = px[s:s + 3]
        return w, h, bytes(out)
    if deg == 270:
        pw, ph = h, w
        for y in range(ph):
            for x in range(pw):
                s = ((h - 1 - x) * w + y) * 3
                d = (y * pw + x) * 3
                out[d:d + 3] = px[s:s + 3]
        return pw, ph, bytes(out)
    raise SystemExit(f"rotation {deg} not supported")


def mean_diff(a, b, w, rows, step=3):
    total = n = 0
    for y in range(0, rows, step):
        base = y * w * 3
        row_a = a[base:base + w * 3]
        row_b = b[base:base + w * 3]
        for i in range(0, w * 3, 3 * step):
            total += abs(row_a[i] - row_b[i]) + abs(row_a[i + 1] - row_b[i + 1]) + abs(row_a[i + 2] - row_b[i + 2])
            n += 3
    return total / max(n, 1)


def white_in(px, w, x0, y0, x1, y1):
    count = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            i = (y * w + x) * 3
            if px[i] >= 250 and px[i + 1] >= 250 and px[i + 2] >= 250:
                count += 1
    return count


def brightness(px, w, h, step=7):
    vals = [px[i] + px[i + 1] + px[i + 2] for i in range(0, w * h * 3, 3 * step)]
    return sum(vals) / (3 * len(vals))


def colours(px, step=11):
    return len({px[i:i + 3] for i in range(0, len(px) - 3, 3 * step)})


def fail(msg, figures):
    print(json.dumps(figures))
    print(f"screencheck: {msg}", file=sys.stderr)
    sys.exit(1)


def opt(args, name, default, kind=str):
    if name in args:
        return kind(args[args.index(name) + 1])
    return default


def main(argv):
    cmd, path, rest = argv[0], argv[1], argv[2:]
    w, h, px = read_ppm(path)
    figures = {"screen": path, "size": f"{w}x{h}"}
    if cmd == "match":
        ew, eh, expected = read_ppm(rest[0])
        if (ew, eh) != (w, h):
            fail(f"screen is {w}x{h}, expected {ew}x{eh}", figures)
        band = opt(rest, "--band", 40, int)
        max_diff = opt(rest, "--max-diff", 12.0, float)
        rows = h - band
        figures["diff"] = round(mean_diff(px, expected, w, rows), 2)
        corners = [px[(y * w + x) * 3:(y * w + x) * 3 + 3] for x, y in ((2, 2), (w - 3, 2), (2, rows - 3), (w - 3, rows - 3))]
        figures["corners"] = [list(c) for c in corners]
        if "--unmirrored" in rest:
            _, _, unmirrored = read_ppm(opt(rest, "--unmirrored", None))
            figures["diff_unmirrored"] = round(mean_diff(px, unmirrored, w, rows), 2)
        print(json.dumps(figures))
        if figures["diff"] > max_diff:
            fail(f"the screen differs from the expected picture by {figures['diff']} (max {max_diff})", figures)
        if "diff_unmirrored" in figures and figures["diff_unmirrored"] < 2 * figures["diff"]:
            fail("the screen is as close to the unmirrored picture as to the mirrored one", figures)
        if all(sum(c) < 30 for c in corners):
            fail("black corners: the picture does not fill the screen", figures)
    elif cmd == "overlay":
        band = opt(rest, "--band", 40, int)
        w, h, px = rotate_upright(w, h, px, opt(rest, "--rotate", 0, int))
        figures["upright"] = f"{w}x{h}"
        figures["white_in_band"] = white_in(px, w, 0, h - band, w // 2, h)
        figures["white_above"] = white_in(px, w, 0, 0, w, h - band - 60)
        print(json.dumps(figures))
        if figures["white_in_band"] < 30:
            fail("no overlay text in the bottom-left band of the upright picture", figures)
    elif cmd == "notice":
        figures["brightness"] = round(brightness(px, w, h), 1)
        figures["white_middle"] = white_in(px, w, 0, h // 2 - h // 8, w, h // 2 + h // 8)
        print(json.dumps(figures))
        if figures["white_middle"] < 100:
            fail("no notice text in the middle of the screen", figures)
        if figures["brightness"] > 90:
            fail("the screen is not dimmed", figures)
    elif cmd == "live":
        figures["brightness"] = round(brightness(px, w, h), 1)
        figures["colours"] = colours(px)
        figures["white_middle"] = white_in(px, w, 0, h // 2 - h // 8, w, h // 2 + h // 8)
        print(json.dumps(figures))
        if figures["colours"] < 50 or figures["brightness"] < 30:
            fail("the screen is not showing a live picture", figures)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
