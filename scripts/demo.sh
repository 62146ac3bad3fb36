#!/usr/bin/env bash
# `make demo`: the whole pipeline on built-in synthetic data, the README's stages in order.
usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [PYTHON] [WORKDIR]
       scripts/demo.sh -h|--help

The README's stages on built-in synthetic data: generate a Human3.6M-format dataset, train a small
27-frame model for a fixed 4 epochs, then preprocess, export, infer and evaluate the trained and an
untrained model, and the trained one in int8 and (CPUs with bf16) bf16, and print the errors. Then
lift "your own video": train a small COCO-order model on the same data's COCO-order 2D for a fixed 2
epochs, write a COCO keypoint results JSON of one test sequence (with dropped frames and a second
person), lift it with vp3d_lift.py to JSON, BVH and npz, and render it beside its 2D input to a GIF.
A few minutes on 2 cores.

  PYTHON   the interpreter with requirements.txt installed (default: python3)
  WORKDIR  where everything is written (default: demo_run). The demo marks a folder it creates
           with a file named .vp3d_demo and replaces only such a folder; an existing non-empty
           folder without that file is refused and left untouched.
EOF
}
for arg in "$@"; do
    case $arg in
        -h|--help) usage; exit 0 ;;
        -*) echo "error: unknown option $arg (scripts/demo.sh --help shows the usage)" >&2; exit 2 ;;
    esac
done
if [ $# -gt 2 ]; then
    echo "error: expected at most PYTHON and WORKDIR, got $# arguments (scripts/demo.sh --help shows the usage)" >&2
    exit 2
fi
set -euo pipefail
PY=${1:-python3}
W=${2:-demo_run}
MARKER=.vp3d_demo    # this demo made the folder: only then may a later run replace it
ARC=3,3,3            # a 27-frame model: small enough to train in about 90 s on 2 cores
CH=128
EPOCHS=4             # a fixed amount of work: the same numbers on a fast or a slow machine
LEN=360              # input frames: the longest synthetic test sequence (~330) + 26
COCO_CH=64           # the COCO-order model for lifting: smaller, 2 epochs on every 2nd frame (~30 s)
COCO_EPOCHS=2
export PYTHONUNBUFFERED=1
if [ -e "$W" ] && [ ! -d "$W" ]; then
    echo "error: $W exists and is not a folder; name another WORKDIR" >&2
    exit 2
fi
if [ -d "$W" ] && [ -n "$(ls -A "$W")" ] && [ ! -f "$W/$MARKER" ]; then
    echo "error: $W is not empty and was not made by this demo (no $W/$MARKER); left untouched, name another WORKDIR" >&2
    exit 2
fi
rm -rf "$W"          # absent, empty, or made by an earlier demo run
mkdir -p "$W"
echo "made by scripts/demo.sh; a later demo run replaces this folder" > "$W/$MARKER"
step() { printf '\n== %s\n' "$*"; }
START=$(date +%s)

step "0. Synthetic Human3.6M-format data (subjects S1 S5 S6 S7 S8 train, S9 S11 test)"
"$PY" vp3d_synthesize.py -o "$W/Human3.6M" --lengths 300 --seed 0

step "Training a ${ARC} model (${CH} channels, ${EPOCHS} epochs) on the training subjects, saved in the Ascend weight layout"
"$PY" vp3d_train.py -d "$W/Human3.6M" -o "$W/model_last.bin" --best "$W/model_best.bin" -arc $ARC -ch $CH \
    -e $EPOCHS -b 256 --dropout 0.1 --threads 2 --weight-layout conv2d --module-prefix 2> >(grep -v 'batch/s' >&2)
"$PY" - "$W/untrained.bin" $CH <<'PYEOF'
import sys
import torch
from vp3d.model import checkpoint
from vp3d.facts.architecture import ModelConfig
from vp3d.model.temporal import TemporalModel
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

step "4b. Reduced precision: model_best in int8 (vp3d_quantize.py) and, where the CPU has bf16, in bf16 (OpenVINO)"
"$PY" vp3d_quantize.py --model "$W/model_best.onnx" --calibration "$W/prep_dataset" -o "$W/model_best_int8.onnx"
runs=("model_best_int8 $W/model_best_int8.onnx onnxruntime f32")
if "$PY" -c "import sys; from vp3d.engines.backends import openvino_bf16_supported; sys.exit(not openvino_bf16_supported()[0])"; then
    runs+=("model_best_bf16 $W/model_best.onnx openvino bf16")
fi
for run in "${runs[@]}"; do
    read -r name file backend precision <<< "$run"
    "$PY" vp3d_infer.py --model "$file" --backend "$backend" --precision "$precision" --input "$W/prep_dataset/inputs" \
        --output "$W/infer_results" --output_dirname "$name" --loop 1 | tail -1
    "$PY" vp3d_postprocess.py --preprocess-data "$W/prep_dataset" --infer-results "$W/infer_results/$name" \
        --json "$W/results_$name.json" | sed -n "/Protocol #1/p"
done

step "Summary"
"$PY" - "$W" <<'PYEOF'
import json, os, sys
w = sys.argv[1]
mpjpe = {n: json.load(open(f"{w}/results_{n}.json"))["average"]["mpjpe"]
         for n in ("untrained", "model_best", "model_best_int8", "model_best_bf16") if os.path.exists(f"{w}/results_{n}.json")}
untrained, trained = mpjpe["untrained"], mpjpe["model_best"]
print(f"untrained model: {untrained:.1f} mm")
print(f"trained model:   {trained:.1f} mm  ({untrained / trained:.1f}x lower)")
for n, label in (("model_best_int8", "int8 (ONNX Runtime)"), ("model_best_bf16", "bf16 (OpenVINO)")):
    if n in mpjpe:
        print(f"  in {label + ':':21s}{mpjpe[n]:.1f} mm  ({mpjpe[n] - trained:+.2f} mm)")
PYEOF
step "5. Lift your own video: a COCO-order model, a COCO keypoint results JSON, vp3d_lift.py, vp3d_render.py"
"$PY" vp3d_synthesize.py -o "$W/Human3.6M" --lengths 300 --seed 0 --layout coco    # same 3D, COCO-order 2D
"$PY" vp3d_train.py -d "$W/Human3.6M" -k detectron_pt_coco -o "$W/coco_last.bin" --best "$W/coco_best.bin" \
    -arc $ARC -ch $COCO_CH -e $COCO_EPOCHS -b 256 --downsample 2 --dropout 0.1 --threads 2 2> >(grep -v 'batch/s' >&2)
# What a detector would write for a video: COCO keypoint results, one entry per person and frame, pixels.
# Frames 40-42 and 150 have no detection (filled by interpolation); frames 60-79 also hold a second,
# lower-scored person (the highest-scored one is lifted). Prints the image size for --image-size.
SIZE=$("$PY" - "$W/Human3.6M" "$W/S9_Walking.json" <<'PYEOF'
import json, sys
import numpy as np
from vp3d.facts.cameras import h36m_cameras
from vp3d.io.npz import load_npz_key
kps = load_npz_key(f"{sys.argv[1]}/data_2d_h36m_detectron_pt_coco.npz", "positions_2d")["S9"]["Walking"][0]
entries = []
for t, k in enumerate(kps.astype(float)):
    people = [] if t in (40, 41, 42, 150) else [(k, 0.9)]
    if 60 <= t < 80:
        people.append((k + [250.0, 20.0], 0.35))
    for xy, score in people:
        triples = np.concatenate([xy, np.full((len(xy), 1), 2.0)], axis=1)
        entries.append({"image_id": t, "category_id": 1, "keypoints": triples.round(2).ravel().tolist(),
                        "score": score})
with open(sys.argv[2], "w") as f:
    json.dump(entries, f)
cam = h36m_cameras()["S9"][0]
print(cam.res_w, cam.res_h)
PYEOF
)
# As a user deploys it: the checkpoint exported to ONNX (any length), lifted without torch.
"$PY" vp3d_pth2onnx.py -m "$W/coco_best.bin" -o "$W/coco.onnx" --dynamic
for out in lifted.json lifted.bvh lifted.npz; do
    "$PY" vp3d_lift.py "$W/S9_Walking.json" --image-size $SIZE --fps 50 -m "$W/coco.onnx" -o "$W/$out"
done
"$PY" vp3d_render.py "$W/lifted.npz" --keypoint-file "$W/S9_Walking.json" --image-size $SIZE -o "$W/lifted.gif" --frames 100
"$PY" - "$W" <<'PYEOF'
import collections, json, sys
import numpy as np
from vp3d.facts.cameras import h36m_cameras, world_to_camera
from vp3d.io.npz import load_npz_key
from vp3d.facts.metrics import mpjpe
from vp3d.io.poses import read_poses_npz
from vp3d.facts.skeleton import kept_joints
w = sys.argv[1]
lifted = read_poses_npz(f"{w}/lifted.npz")["S9_Walking"]
cam = h36m_cameras()["S9"][0]
world = load_npz_key(f"{w}/Human3.6M/data_3d_h36m.npz", "positions_3d")["S9"]["Walking"][:, kept_joints()]
truth = world_to_camera(world, cam.orientation, cam.translation)
n = min(len(lifted), len(truth))        # the 2D may run a frame longer than the 3D, as Human3.6M's does
error = mpjpe(lifted[:n] - lifted[:n, :1], truth[:n] - truth[:n, :1]) * 1000
people = collections.Counter(e["image_id"] for e in json.load(open(f"{w}/S9_Walking.json")))
print(f"lifted {w}/S9_Walking.json (COCO results: {len(lifted)} frames, {len(lifted) - len(people)} without a "
      f"detection, {sum(n > 1 for n in people.values())} with a second person) with a COCO-order model: MPJPE "
      f"{error:.1f} mm; poses in {w}/lifted.json, .bvh, .npz; {w}/lifted.gif")
PYEOF
echo "demo finished in $(( $(date +%s) - START )) s; everything is under $W/"
