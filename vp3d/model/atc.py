"""The ATC command that converts an exported ONNX model to an .om for an Ascend NPU, built once (atc_argv)
from the model's own input shape; scripts/atc.sh runs it, vp3d_pth2onnx.py prints it."""
from __future__ import annotations

import shlex
from pathlib import Path

from vp3d.errors import Vp3dError
from vp3d.io.onnx_meta import INPUT_NAME, onnx_input_shape

CHIP_PLACEHOLDER = "${chip_name}"     # printed commands leave the chip to the shell, as the Ascend recipe does


def soc_version(chip: str) -> str:
    """'310P3' or 'Ascend310P3' (as `npu-smi info` names the chip) -> 'Ascend310P3'."""
    name = chip.strip()
    if name in (CHIP_PLACEHOLDER, f"Ascend{CHIP_PLACEHOLDER}"):
        return f"Ascend{CHIP_PLACEHOLDER}"
    name = name if name.lower().startswith("ascend") else f"Ascend{name}"
    if len(name) <= len("Ascend") or not name[len("Ascend"):].replace("_", "").isalnum():
        raise Vp3dError(f"chip name {chip!r}: expected one like 310P3, 310B1 or 910B3 (see `npu-smi info`)")
    return "Ascend" + name[len("Ascend"):]


def atc_argv(onnx_path: str | Path, chip: str = CHIP_PLACEHOLDER, output: str | Path | None = None) -> list[str]:
    """The ATC argv converting this ONNX model to <output>.om for `chip` (default: the shell variable
    ${chip_name}), with --input_shape read from the model itself. The same for every weight layout: the
    input stays (2, L, J, 2). output: default <model>_seq<L> beside the model."""
    onnx_path = Path(onnx_path)
    shape = onnx_input_shape(onnx_path)
    output = output or onnx_path.with_name(f"{onnx_path.stem}_seq{shape[1]}")
    return ["atc", "--framework=5", f"--model={onnx_path}", f"--output={output}", "--input_format=NCHW",
            f"--input_shape={INPUT_NAME}:{','.join(map(str, shape))}", "--log=error",
            f"--soc_version={soc_version(chip)}"]


def atc_command(onnx_path: str | Path, chip: str = CHIP_PLACEHOLDER, output: str | Path | None = None) -> str:
    """atc_argv as one shell line, written as the Ascend recipe writes it (--input_shape="..."; the chip
    placeholder left to the shell; other arguments quoted where needed)."""
    def shell(arg: str) -> str:
        if arg.endswith(CHIP_PLACEHOLDER):
            return arg
        if arg.startswith("--input_shape="):
            return '--input_shape="{}"'.format(arg.split("=", 1)[1])
        return shlex.quote(arg)
    return " ".join(shell(a) for a in atc_argv(onnx_path, chip, output))
