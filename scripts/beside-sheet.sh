#!/usr/bin/env bash
# A model card's "each style beside its painting" sheet, cut from `atelier eval`'s contact sheet:
# one row per style, the painting then that style on three held-out photos (the contact sheet's
# rows 2-4: the Apollo 11 crew, Grace Hopper, Eileen Collins). Needs ImageMagick.
#
#   scripts/beside-sheet.sh EVAL_DIR OUT.jpg STYLE_IMAGE...   (in the model's style order)
set -euo pipefail
eval_dir=${1:?usage: beside-sheet.sh EVAL_DIR OUT.jpg STYLE_IMAGE...}
out=${2:?usage: beside-sheet.sh EVAL_DIR OUT.jpg STYLE_IMAGE...}
shift 2
command -v convert >/dev/null || { echo "beside-sheet: ImageMagick's convert is missing (apt-get install imagemagick)" >&2; exit 1; }
sheet=$eval_dir/contact-sheet.png
[ -f "$sheet" ] || { echo "beside-sheet: no $sheet (run atelier eval --out $eval_dir first)" >&2; exit 1; }
# atelier eval's grid: 344x256 cells, 4-pixel gaps and border (host/src/sheet.rs).
W=344 H=256 GAP=4 CELL=244x182
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
c=1
for style in "$@"; do
  convert "$style" -resize "$CELL" -background '#202020' -gravity center -extent "$CELL" "$tmp/r$c-0.png"
  for r in 1 2 3; do
    convert "$sheet" -crop "${W}x${H}+$((GAP + c * (W + GAP)))+$((GAP + r * (H + GAP)))" +repage \
      -resize "$CELL!" "$tmp/r$c-$r.png"
  done
  convert "$tmp/r$c-0.png" "$tmp/r$c-1.png" "$tmp/r$c-2.png" "$tmp/r$c-3.png" +append "$tmp/row$c.png"
  c=$((c + 1))
done
rows=()
for ((i = 1; i < c; i++)); do rows+=("$tmp/row$i.png"); done
convert "${rows[@]}" -append -quality 85 "$out"
echo "beside-sheet: $out" >&2
