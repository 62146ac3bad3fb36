#!/usr/bin/env bash
# The inference stage on a GPU with the torch backend (CUDA): the Ascend recipe's fixed flow and the
# own-length flow in f32, and own-length bf16/fp16 (autocast), each scored. One prepared run for a
# lent GPU machine: synthetic S9/S11 with the real lengths, all 4 cameras (236 inputs).
# Usage: benchmarks/gpu_testset.sh CHECKPOINT [WORKDIR] [PYTHON]
set -euo pipefail
CKPT=${1:?usage: benchmarks/gpu_testset.sh CHECKPOINT [WORKDIR] [PYTHON]}
W=${2:-/tmp/vp3d_gpu}
PY=${3:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$W"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
"$PY" vp3d_synthesize.py -o "$W/data" --subjects S9,S11 --lengths real --seed 1
"$PY" vp3d_preprocess.py -d "$W/data" -s "$W/fixed" --force
"$PY" vp3d_preprocess.py -d "$W/data" -s "$W/own" --max-length 0 --force
run() {   # name, prep, precision
    "$PY" vp3d_infer.py --model "$CKPT" --device cuda --precision "$3" --input "$W/$2/inputs" \
        --output "$W/res" --output_dirname "$1" --force --warmup_count 3 | grep -v "^\[INFO\] results"
    "$PY" vp3d_postprocess.py --preprocess-data "$W/$2" --infer-results "$W/res/$1" --json "$W/$1.json" | tail -4
}
run fixed_f32 fixed f32
run own_f32 own f32
run own_bf16 own bf16
run own_fp16 own fp16
"$PY" - "$W" <<'PYEOF'
import json, sys
w = sys.argv[1]
rows = {n: (json.load(open(f"{w}/{n}.json"))["average"], json.load(open(f"{w}/res/{n}_summary.json")))
        for n in ("fixed_f32", "own_f32", "own_bf16", "own_fp16")}
base_t = sum(rows["fixed_f32"][1]["compute_time_list"])
base = rows["fixed_f32"][0]["mpjpe"]
print("| flow | seconds | speed-up | recipe frames/s (2L) | useful frames/s | MPJPE mm | change mm | MPJVE mm |")
for n, (avg, s) in rows.items():
    t = sum(s["compute_time_list"])
    print(f"| {n} | {t / 1000:.2f} | {base_t / t:.2f}x | {s['frames_per_second']:,.0f} | {s['useful_frames_per_second']:,.0f} "
          f"| {avg['mpjpe']:.3f} | {avg['mpjpe'] - base:+.3f} | {avg['mpjve']:.2f} |")
print("Ascend recipe's T4 figure (2L/mean_ms): 604,554 frames/s")
PYEOF
