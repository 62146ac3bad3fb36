"""The ATC command, built from the exported model's own input shape; scripts/atc.sh runs it."""
import shlex
import shutil
import subprocess
import sys

import pytest
from one_line_errors import check_one_line_error
from random_models import random_model
from repo_paths import ROOT

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import WEIGHT_LAYOUTS
from vp3d.model.atc import atc_argv, atc_command, soc_version
from vp3d.model.export import export_onnx

LENGTH = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One random (3, 3) model exported at L = 64 in each weight layout, and once with a dynamic time axis."""
    d = tmp_path_factory.mktemp("atc")
    model = random_model((3, 3), 8, seed=7)
    paths = {weight_layout: d / f"vp3d_{weight_layout}.onnx" for weight_layout in WEIGHT_LAYOUTS}
    for weight_layout, path in paths.items():
        export_onnx(random_model((3, 3), 8, seed=7, weight_layout=weight_layout), path, LENGTH)
    export_onnx(model, d / "dynamic.onnx", None)
    return d, paths


def test_layouts_need_the_same_atc_command(exported):
    _, paths = exported
    commands = {weight_layout: atc_argv(path, "310P3", "out") for weight_layout, path in paths.items()}
    strip = lambda argv: [a for a in argv if not a.startswith("--model=")]
    assert strip(commands["conv2d"]) == strip(commands["conv2d_w"]) == strip(commands["conv1d"])
    assert f"--input_shape=2d_poses:2,{LENGTH},17,2" in commands["conv2d_w"]
    assert "--soc_version=Ascend310P3" in commands["conv2d_w"]


def test_atc_argv_reads_the_shape_from_the_model_and_names_the_output_after_it(exported):
    d, paths = exported
    argv = atc_argv(paths["conv2d_w"])
    assert argv == ["atc", "--framework=5", f"--model={paths['conv2d_w']}", f"--output={d / 'vp3d_conv2d_w_seq64'}",
                    "--input_format=NCHW", "--input_shape=2d_poses:2,64,17,2", "--log=error",
                    "--soc_version=Ascend${chip_name}"]
    with pytest.raises(Vp3dError, match=r"dynamic\.onnx: input '2d_poses' has shape \(2, None, 17, 2\); ATC needs a fixed"):
        atc_argv(d / "dynamic.onnx", "310P3")
    with pytest.raises(Vp3dError, match=r"none\.onnx: no such ONNX file"):
        atc_argv(d / "none.onnx", "310P3")


def test_atc_command_is_written_as_the_ascend_recipe_writes_it(exported, tmp_path):
    """--input_shape in double quotes, ${chip_name} left for the shell to expand, paths with spaces quoted:
    the shell turns the line back into atc_argv."""
    _, paths = exported
    spaced = tmp_path / "my models" / "vp3d.onnx"
    spaced.parent.mkdir()
    shutil.copy(paths["conv2d_w"], spaced)
    line = atc_command(spaced)
    assert '--input_shape="2d_poses:2,64,17,2"' in line.split()
    assert line.endswith(" --soc_version=Ascend${chip_name}")
    assert shlex.split(line.replace("${chip_name}", "310P3")) == atc_argv(spaced, "310P3")
    r = subprocess.run(["bash", "-c", f'chip_name=910B3; printf "%s\\n" {line}'], capture_output=True, text=True)
    assert r.stdout.splitlines() == atc_argv(spaced, "910B3")


@pytest.mark.parametrize("chip, expected", [("310P3", "Ascend310P3"), ("Ascend910B3", "Ascend910B3"),
                                            ("ascend310B1", "Ascend310B1"), (" 310P3 ", "Ascend310P3")])
def test_soc_version_names_the_chip_as_atc_expects(chip, expected):
    assert soc_version(chip) == expected


@pytest.mark.parametrize("chip", ["", "Ascend", "310P3; rm -rf /", "../x"])
def test_soc_version_refuses_what_is_not_a_chip_name(chip):
    with pytest.raises(Vp3dError, match="expected one like 310P3"):
        soc_version(chip)


@pytest.mark.slow
def test_atc_script(exported, tmp_path):
    d, paths = exported
    onnx = paths["conv2d_w"]
    script = ROOT / "scripts" / "atc.sh"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(script), "-n", str(onnx), "310P3"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"atc --framework=5 --model={onnx} --output={d / 'vp3d_conv2d_w_seq64'} "
                                f"--input_format=NCHW --input_shape=2d_poses:2,{LENGTH},17,2 --log=error "
                                f"--soc_version=Ascend310P3")
    if shutil.which("atc", path=env["PATH"]) is None:
        r = subprocess.run(["bash", str(script), str(onnx), "Ascend910B3"], capture_output=True, text=True, env=env)
        check_one_line_error(r.stderr, r.returncode, "atc not found", "CANN")
    r = subprocess.run(["bash", str(script), "-n", str(tmp_path / "none.onnx"), "310P3"], capture_output=True, text=True, env=env)
    check_one_line_error(r.stderr, r.returncode, "none.onnx: no such ONNX file")
