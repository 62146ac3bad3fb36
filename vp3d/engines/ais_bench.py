"""ais_bench, the Ascend NPU's inference tool: the real tool, run on a whole input directory.

Its timings come from the NPU, not from Python, so it is a runner of its own rather than a Session.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from vp3d.errors import Vp3dError
from vp3d.engines import devices

AIS_BENCH_HELP = ("the ais_bench backend needs the ais_bench tool (python3 -m ais_bench) and the CANN toolkit "
                  "on a machine with an Ascend NPU; install both from the Ascend tools repository "
                  "(https://gitee.com/ascend/tools, ais-bench_workload/tool/ais_bench) and source "
                  "/usr/local/Ascend/ascend-toolkit/set_env.sh")


def ais_bench_available() -> bool:
    """`python -m ais_bench` is importable by this interpreter."""
    return bool(devices.npu_devices())


def require_ais_bench(model: str | Path = "") -> None:
    """Raise Vp3dError (one line, saying what to install) unless ais_bench is importable."""
    if not ais_bench_available():
        raise Vp3dError(f"{model}: {AIS_BENCH_HELP}" if str(model) else AIS_BENCH_HELP)


def ais_bench_command(model: str | Path, input_dir: str | Path | None = None, output: str | Path | None = None,
                      output_dirname: str | None = None, outfmt: str = "BIN", loop: int = 1,
                      warmup_count: int | None = None, batchsize: int = 1, python: str | None = None) -> list[str]:
    """The ais_bench command line (argv) for the same arguments vp3d_infer.py takes.

    Without `input_dir` ais_bench feeds its own data (pure-inference mode)."""
    cmd = [python or sys.executable, "-m", "ais_bench", "--model", str(model)]
    if input_dir is not None:
        cmd += ["--input", str(input_dir)]
    if output is not None:
        cmd += ["--output", str(output)]
        if output_dirname:
            cmd += ["--output_dirname", output_dirname]
    cmd += ["--outfmt", outfmt, "--batchsize", str(batchsize), "--loop", str(loop)]
    if warmup_count is not None:
        cmd += ["--warmup_count", str(warmup_count)]
    return cmd


def run_ais_bench(cmd: list[str]) -> int:
    """Run ais_bench with its output passed straight through; Vp3dError on a non-zero exit."""
    require_ais_bench(cmd[cmd.index("--model") + 1] if "--model" in cmd else "")
    print("[INFO] running: " + shlex.join(cmd), flush=True)
    try:
        rc = subprocess.run(cmd, check=False).returncode
    except OSError as e:
        raise Vp3dError(f"cannot start ais_bench ({e})") from None
    if rc != 0:
        raise Vp3dError(f"ais_bench exited with status {rc}: {shlex.join(cmd)}")
    return rc
