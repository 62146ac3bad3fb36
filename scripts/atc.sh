#!/usr/bin/env bash
# Convert an exported ONNX model to an Ascend .om with ATC, the input shape read from the model itself.
#
#   scripts/atc.sh [-n] MODEL.onnx CHIP [OUTPUT]
#
#   CHIP    the chip as `npu-smi info` names it: 310P3, 310B1, 910B3 (or Ascend310P3)
#   OUTPUT  the .om path without its suffix (default: MODEL_seq<L> beside the model)
#   -n      print the command only (works without ATC installed)
#
# ATC comes with the CANN toolkit: source /usr/local/Ascend/ascend-toolkit/set_env.sh first.
# Environment: PYTHON, the interpreter that has vp3d's requirements (default: .venv/bin/python, python3).
set -euo pipefail

usage() { echo "usage: $0 [-n] MODEL.onnx CHIP [OUTPUT]" >&2; exit 2; }
dry_run=0
if [[ "${1:-}" == "-n" ]]; then dry_run=1; shift; fi
[[ $# -ge 2 && $# -le 3 ]] || usage

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

argv_file="$(mktemp)"
trap 'rm -f "$argv_file"' EXIT
# The library builds the argv (NUL-separated, so paths with spaces survive); errors are one line, exit 2.
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$python" - "$@" > "$argv_file" <<'PY' || exit $?
import sys
from vp3d.errors import Vp3dError
from vp3d.model.atc import atc_argv
try:
    argv = atc_argv(*sys.argv[1:])
except Vp3dError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
sys.stdout.write("\0".join(argv) + "\0")
PY
mapfile -d '' -t argv < "$argv_file"

"$python" -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "${argv[@]}"
if (( dry_run )); then exit 0; fi
if ! command -v atc > /dev/null; then
    echo "error: atc not found on PATH: it comes with the CANN toolkit (install CANN from the Ascend site, then source /usr/local/Ascend/ascend-toolkit/set_env.sh)" >&2
    exit 2
fi
exec "${argv[@]}"
