#!/usr/bin/env bash
# Retrains a shipped style pack exactly as its model card says, then writes its int8-weights twin
# and its evaluation on the held-out people photos.
#
#   scripts/train-shipped.sh classics6|garments7 OUT_DIR [extra atelier train flags...]
#
# Needs ../shared/data (the training photos and full-size style images), the training venv
# (scripts/train-env.sh) and the pretrained loss network (scripts/feature-nets.sh); ATELIER_BIN
# names an already built `atelier` (else a release build is made). Training
# photos are ../shared/data/content minus the held-out photos in data/people and data/controls,
# linked into OUT_DIR/content so that no shipped model sees the photos its card is judged on.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${1:?usage: scripts/train-shipped.sh classics6|garments7 OUT_DIR [flags]}
out=${2:?usage: scripts/train-shipped.sh classics6|garments7 OUT_DIR [flags]}
shift 2
S=../shared/data/style
C=../shared/data/content
test -d "$C" || { echo "train-shipped: $C is missing (training needs the shared data set)" >&2; exit 1; }
case "$pack" in
  classics6) styles=(starry-night=vangogh_starry_night.jpg the-scream=munch_the_scream.jpg
    great-wave=hokusai_great_wave.jpg composition-vii=kandinsky_composition_vii.jpg
    udnie=picabia_udnie.jpg water-lilies=monet_water_lilies_1919.jpg) ;;
  garments7) styles=(sketch=texture_piano_keyboard_sketch.jpg brick=texture_skimage_brick.png
    grass=texture_skimage_grass.png gravel=texture_skimage_gravel.png zigzag=texture_zigzag_colorful.jpg
    woodcut=vallotton_camille_mauclair.jpg de-stijl=van_doesburg_composition_xiii.jpg) ;;
  *) echo "train-shipped: unknown pack $pack (classics6 or garments7)" >&2; exit 2 ;;
esac
source scripts/train-env.sh >/dev/null
ATELIER_NETS="${ATELIER_NETS:-$(scripts/feature-nets.sh)}" # (not `export X=$(...)`: that hides a failure)
export ATELIER_NETS
if [ -z "${ATELIER_BIN:-}" ]; then
  cargo build --release -p atelier-host --features train >&2
fi
bin=${ATELIER_BIN:-${CARGO_TARGET_DIR:-target}/release/atelier}

mkdir -p "$out/content"
for f in "$C"/*; do
  stem=$(basename "${f%.*}")
  if [ ! -e "data/people/$stem.jpg" ] && [ ! -e "data/controls/$stem.jpg" ]; then
    ln -sf "$(realpath "$f")" "$out/content/"
  fi
done
args=()
for s in "${styles[@]}"; do args+=(--style "${s%%=*}=$S/${s#*=}"); done
# The recipe of docs/training.md ("Shipped recipe").
"$bin" train "${args[@]}" --content "$out/content" --out "$out/$pack.onnx" \
  --size 256 --batch 4 --seed 2026 --preview-every 100 --checkpoint-every 100 \
  --w-style 25 --w-adversarial 0.2 --w-content 0.2 --w-luminance 0.05 "$@"
"$bin" quantize --model "$out/$pack.onnx" --mode int8-weights --out "$out/$pack-int8w.onnx" \
  --report "$out/$pack-int8w.json"
"$bin" eval --model "$out/$pack.onnx" --out "$out/eval" > /dev/null
echo "train-shipped: $out/$pack.onnx, $out/$pack-int8w.onnx, $out/eval/report.json" >&2
