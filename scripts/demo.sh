#!/usr/bin/env bash
# `make demo`: the whole pipeline on built-in synthetic data, the README's stages in order.
# Usage: scripts/demo.sh [PYTHON] [WORKDIR]
set -euo pipefail
PY=${1:-python3}
W=${2:-demo_run}
ARC=3,3,3            # a 27-frame model: small enough to train in about 90 s on 2 cores
CH=128
LEN=360              # input frames: the longest synthetic test sequence (~330) + 26
export PYTHONUNBUFFERED=1
rm -rf "$W"
mkdir -p "$W"
step() { printf '\n== %s\n' "$*"; }
START=$(date +%s)

step "0. Synthetic Human3.6M-format data (subjects S1 S5 S6 S7 S8 train, S9 S11 test)"
"$PY" vp3d_synthesize.py -o "$W/Human3.6M" --lengths 300 --seed 0

step "Training a ${ARC} model (${CH} channels) on the training subjects, saved in the Ascend layout"
"$PY" vp3d_train.py -d "$W/Human3.6M" -o "$W/model_best.bin" -arc $ARC -ch $CH -e 4 -b 256 --dropout 0.1 --max-minutes 1.5 \
    --layout conv2d --module-prefix 2> >(grep -v 'batch/s' >&2)
"$PY" - "$W/untrained.bin" $CH <<'PYEOF'
import sys
import torch
from vp3d import checkpoint
from vp3d.model import ModelConfig, TemporalModel
torch.manual_seed(0)
model = TemporalModel(ModelConfig(filter_widths=(3, 3, 3), channels=int(sys.argv[2]))).eval()
checkpoint.save(sys.argv[1], model, "conv2d", module_prefix=True)
print(f"wrote {sys.argv[1]} (same architecture, untrained)")
PYEOF

step "1. Preprocess the test set"
"$PY" vp3d_preprocess.py -d "$W/Human3.6M" -s "$W/prep_dataset" -arc $ARC --max-length $LEN

for model in untrained model_best; do
    step "2. Export $model to ONNX"
    "$PY" vp3d_pth2onnx.py -m "$W/$model.bin" -o "$W/$model.onnx" --length $LEN
    step "3. Inference ($model)"
    "$PY" vp3d_infer.py --model "$W/$model.onnx" --input "$W/prep_dataset/inputs" --output "$W/infer_results" \
        --output_dirname $model --loop 1
    step "4. Accuracy ($model)"
    "$PY" vp3d_postprocess.py --preprocess-data "$W/prep_dataset" --infer-results "$W/infer_results/$model" \
        --json "$W/results_$model.json" --plot "$W/results_$model.png"
done

step "Summary"
"$PY" - "$W" <<'PYEOF'
import json, sys
w = sys.argv[1]
untrained = json.load(open(f"{w}/results_untrained.json"))["average"]["mpjpe"]
trained = json.load(open(f"{w}/results_model_best.json"))["average"]["mpjpe"]
print(f"untrained model: {untrained:.1f} mm")
print(f"trained model:   {trained:.1f} mm  ({untrained / trained:.1f}x lower)")
PYEOF
echo "demo finished in $(( $(date +%s) - START )) s; everything is under $W/"
