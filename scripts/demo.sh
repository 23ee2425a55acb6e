#!/usr/bin/env bash
# `make demo`: the main job on the bundled CC BY sample, as the commands a user would type.
# classify (train -> evaluate -> report -> predict), detect and count, then biodiversity figures.
set -euo pipefail
OUT=${1:-demo_out}
BIN=${BENTHOS:-.venv/bin/benthos}
PY=${PYTHON_BIN:-.venv/bin/python}
SAMPLE=$($PY -c "from benthos.data import sample_path; print(sample_path('aquarium'))")
rm -rf "$OUT"
mkdir -p "$OUT"
step() { echo; echo "\$ benthos ${*:2}"; "$@"; }
start=$(date +%s)

echo "== 1. the bundled sample: crops of 7 taxa from CC BY aquarium photos (attribution: $SAMPLE/NOTICE.md)"
step "$BIN" data inspect "$SAMPLE/crops/manifest.csv"

echo; echo "== 2. train a classifier by transfer learning (ImageNet EfficientNet-Lite0, grouped split by photo)"
# the demo's budget: smaller input and fewer epochs than the defaults used on real surveys
step "$BIN" train "$SAMPLE/crops/manifest.csv" --out "$OUT/classifier" --input-size 160 --epochs 8 --max-minutes 4

echo; echo "== 3. evaluate on the held-out photos and label new images"
step "$BIN" evaluate "$OUT/classifier"
step "$BIN" predict "$OUT/classifier" "$SAMPLE/crops/starfish" "$SAMPLE/crops/stingray" --out "$OUT/crop_predictions.csv"

echo; echo "== 4. detect and count organisms on whole photos"
step "$BIN" detect train "$SAMPLE/detection/annotations.json" --out "$OUT/detector" --epochs 40 --max-minutes 4.5 --input-size 384
step "$BIN" detect predict "$OUT/detector" "$SAMPLE/detection/images" --out "$OUT/detections"

echo; echo "== 5. biodiversity: counts per photo, diversity with rarefaction, Darwin Core for OBIS/GBIF"
# counted at the threshold fitted when the detector was trained (recorded beside detections.csv)
step "$BIN" ecology counts "$OUT/detections/detections.csv" --by image --out "$OUT/counts.csv"
step "$BIN" ecology diversity "$OUT/counts.csv"
step "$BIN" ecology darwincore "$OUT/detections/detections.csv" --out "$OUT/occurrences_dwca.zip" \
    --title "benthos demo: aquarium sample" --creator "benthos demo" --licence CC-BY-4.0
step "$BIN" ecology report "$OUT/detections/detections.csv" --out "$OUT/biodiversity.html"

echo
echo "demo finished in $(( $(date +%s) - start )) s. Open these in a browser:"
echo "  $OUT/classifier/report.html   (learning curves, confusion matrix, mistakes, calibration)"
echo "  $OUT/detector/report.html     (detections drawn on photos, PR curves)"
echo "  $OUT/biodiversity.html        (counts, rarefaction/extrapolation curves)"
