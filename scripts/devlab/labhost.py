#!/usr/bin/env python3
"""Host side of the device lab (Python 3 standard library only).

  labhost.py watch QMP_SOCKET SHARE_DIR
      Serves the guest's requests: polls SHARE_DIR/.lab/req/ for <id>.req files written by
      guest-lib.sh, runs them over QMP and answers with <id>.done ("ok" or "error: ...", then
      the QMP reply for raw requests). Request file, first line:
        screendump NAME [ppm|png]   -> SHARE_DIR/NAME.ppm (or .png), renamed into place when
                                       complete, before the .done file appears
        qmp                         -> the rest of the file is one QMP command (JSON)
  labhost.py ppm2png FILE.ppm...    writes FILE.png next to each PPM
  labhost.py ppm-info FILE.ppm      prints width, height, non-black fraction, colour count (JSON)
  labhost.py ppm-check FILE.ppm [--size WxH] [--min-nonblack F] [--min-colors N]
      exit 1 with a message when the picture does not match
  labhost.py deb-closure ARCH EXCLUDE,... ROOT...
      prints the apt-get download specs (name:ARCH, or name for Architecture: all) of ROOT's
      Depends/Pre-Depends closure for a foreign ARCH, first alternative of each OR group
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def log(msg):
    print(f"[labhost {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Qmp:
    def __init__(self, path, wait_s=120.0):
        deadline = time.monotonic() + wait_s
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.f = s.makefile("rwb", buffering=0)
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"unexpected QMP greeting {greeting}")
        self.cmd({"execute": "qmp_capabilities"})

    def _read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("QMP socket closed")
        return json.loads(line)

    def cmd(self, obj):
        self.f.write(json.dumps(obj).encode() + b"\n")
        while True:
            msg = self._read()
            if "return" in msg or "error" in msg:
                return msg
            log(f"event {json.dumps(msg)}")


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def handle(qmp, share, req_path):
    with open(req_path) as f:
        body = f.read()
    first, _, rest = body.partition("\n")
    words = first.split()
    if not words:
        raise ValueError("empty request")
    if words[0] == "screendump":
        name = words[1] if len(words) > 1 else ""
        fmt = words[2] if len(words) > 2 else "ppm"
        if not NAME_RE.match(name) or fmt not in ("ppm", "png"):
            raise ValueError(f"bad screendump request {first!r}")
        final = os.path.join(share, f"{name}.{fmt}")
        part = os.path.join(share, ".lab", f"{name}.{fmt}.part")
        args = {"filename": part}
        if fmt == "png":
            args["format"] = "png"
        reply = qmp.cmd({"execute": "screendump", "arguments": args})
        if "error" in reply:
            raise RuntimeError(json.dumps(reply["error"]))
        os.rename(part, final)
        log(f"screendump {final}")
        return "ok\n"
    if words[0] == "qmp":
        reply = qmp.cmd(json.loads(rest))
        log(f"qmp {rest.strip()} -> {json.dumps(reply)[:200]}")
        if "error" in reply:
            return "error: " + json.dumps(reply["error"]) + "\n"
        return "ok\n" + json.dumps(reply["return"]) + "\n"
    raise ValueError(f"unknown request {first!r}")


def watch(sock, share):
    req_dir = os.path.join(share, ".lab", "req")
    os.makedirs(req_dir, exist_ok=True)
    qmp = None
    log(f"watching {req_dir}")
    while True:
        names = sorted(n for n in os.listdir(req_dir) if n.endswith(".req"))
        for n in names:
            rid = n[:-4]
            path = os.path.join(req_dir, n)
            try:
                if qmp is None:
                    qmp = Qmp(sock)
                answer = handle(qmp, share, path)
            except EOFError:
                log("QMP closed; exiting")
                return 0
            except Exception as e:  # report to the guest, keep serving
                log(f"request {rid} failed: {e}")
                answer = f"error: {e}\n"
            os.unlink(path)
            write_atomic(os.path.join(req_dir, rid + ".done"), answer)
        time.sleep(0.02)


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # P6 <ws> width <ws> height <ws> maxval <single ws> pixels; '#' comments allowed.
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError(f"{path}: not an 8-bit P6 PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos:pos + w * h * 3]
    if len(pixels) != w * h * 3:
        raise ValueError(f"{path}: truncated PPM")
    return w, h, pixels


def write_png(path, w, h, rgb):
    def chunk(kind, payload):
        c = struct.pack(">I", len(payload)) + kind + payload
        return c + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    stride = w * 3
    raw = b"".join(b"\x00" + rgb[y * stride:(y + 1) * stride] for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.rename(tmp, path)


def ppm_info(path):
    w, h, px = read_ppm(path)
    r, g, b = px[0::3], px[1::3], px[2::3]
    colours = set(zip(r, g, b))
    black = sum(1 for t in zip(r, g, b) if t == (0, 0, 0))
    n = w * h
    return {"file": path, "width": w, "height": h, "nonblack_fraction": round(1 - black / n, 4),
            "colours": len(colours)}


def deb_closure(arch, roots, exclude):
    """Breadth-first, one apt-cache call per layer (each call costs ~1 s)."""
    def base(n):
        return n.strip("<>").split(":")[0]

    def specs(names):
        found = {}
        for suffix in (f":{arch}", ""):
            want = [n for n in names if n not in found]
            if not want:
                break
            r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + [n + suffix for n in want],
                               capture_output=True, text=True)
            for rec in r.stdout.split("\n\n"):
                pm = re.search(r"^Package: (\S+)", rec, re.M)
                am = re.search(r"^Architecture: (\S+)", rec, re.M)
                if pm and am and pm.group(1) in want and am.group(1) in (arch, "all"):
                    found[pm.group(1)] = pm.group(1) + (f":{arch}" if am.group(1) == arch else "")
        missing = [n for n in names if n not in found]
        if missing:
            raise SystemExit(f"deb-closure: no {arch} or all package named {' '.join(missing)}")
        return found

    done, layer, result = set(), sorted({base(r) for r in roots} - exclude), []
    while layer:
        done.update(layer)
        sp = specs(layer)
        result.extend(sp.values())
        out = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests",
                              "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
                             + [sp[n] for n in layer], capture_output=True, text=True,
                             check=True).stdout
        groups, cur = [], None
        for line in out.splitlines():
            m = re.match(r"^ ([ |])(?:Pre)?Depends: (\S+)", line)
            if m:
                if cur is None:
                    cur = []
                cur.append([m.group(2), []])
                if m.group(1) == " ":
                    groups.append(cur)
                    cur = None
            elif line.startswith("    ") and (cur or groups):
                (cur or groups[-1])[-1][1].append(line.strip())
            else:
                cur = None  # a new package section or another relation kind
        nxt = set()
        for g in groups:
            for dep, providers in g:
                if dep.startswith("<"):
                    if providers:
                        nxt.add(base(providers[0]))
                        break
                    continue
                nxt.add(base(dep))
                break
        layer = sorted(nxt - done - exclude)
    return sorted(result)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "watch" and len(argv) == 4:
        return watch(argv[2], argv[3])
    if cmd == "ppm2png":
        for p in argv[2:]:
            w, h, px = read_ppm(p)
            write_png(os.path.splitext(p)[0] + ".png", w, h, px)
        return 0
    if cmd == "ppm-info" and len(argv) == 3:
        print(json.dumps(ppm_info(argv[2])))
        return 0
    if cmd == "ppm-check" and len(argv) >= 3:
        info = ppm_info(argv[2])
        opts = argv[3:]
        ok = True
        for k, v in zip(opts[0::2], opts[1::2]):
            if k == "--size":
                want_w, want_h = (int(x) for x in v.split("x"))
                if (info["width"], info["height"]) != (want_w, want_h):
                    print(f"ppm-check: {argv[2]} is {info['width']}x{info['height']}, want {v}")
                    ok = False
            elif k == "--min-nonblack":
                if info["nonblack_fraction"] < float(v):
                    print(f"ppm-check: {argv[2]} non-black fraction {info['nonblack_fraction']} < {v}")
                    ok = False
            elif k == "--min-colors":
                if info["colours"] < int(v):
                    print(f"ppm-check: {argv[2]} has {info['colours']} colours < {v}")
                    ok = False
            elif k == "--max-colors":
                if info["colours"] > int(v):
                    print(f"ppm-check: {argv[2]} has {info['colours']} colours > {v}")
                    ok = False
            else:
                print(f"ppm-check: unknown option {k}", file=sys.stderr)
                return 2
        print(json.dumps(info))
        return 0 if ok else 1
    if cmd == "deb-closure" and len(argv) >= 5:
        for sp in deb_closure(argv[2], argv[4:], set(filter(None, argv[3].split(",")))):
            print(sp)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
