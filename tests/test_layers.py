"""The package's shape: each subpackage imports only those below it (DESIGN.md's map), no module imports
another that imports it back, and the core needs no optional dependency at import time."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from repo_paths import ROOT

PACKAGE = ROOT / "vp3d"
# bottom to top; modules of one rank may import each other (without cycles)
RANKS = {"errors": 0, "cli": 1, "facts": 1, "io": 2, "model": 3, "engines": 4, "pipeline": 5, "detect": 5,
         "training": 6, "viz": 6, "lift": 7, "stream": 7, "corpus": 7, "__init__": 8}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports() -> list[tuple[str, str, int]]:
    """(importer, imported module, line) for every `from vp3d... import` in the package, lazy ones included."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vp3d"):
                for alias in node.names:                     # `from vp3d.io import files` imports vp3d.io.files
                    sub = f"{node.module}.{alias.name}"
                    found.append((module_name(path), sub if sub in modules else node.module, node.lineno))
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_import_scan_sees_the_package():
    edges = imports()
    assert ("vp3d.lift", "vp3d.engines.backends") in {(a, b) for a, b, _ in edges}
    assert {layer(a) for a, _, _ in edges} >= set(RANKS) - {"errors"}      # every layer imports something


def test_no_module_imports_one_from_a_layer_above_it():
    upward = [f"{a} -> {b} (line {n})" for a, b, n in imports() if RANKS[layer(b)] > RANKS[layer(a)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for a, b, _ in imports():
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}                      # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("blocked", [("torch", "openvino", "PIL", "imageio_ffmpeg", "matplotlib", "scipy", "ray")])
def test_the_core_imports_without_optional_dependencies(blocked):
    """Lifting and inference from ONNX, postprocessing and every reader and writer import with the optional
    extras made unimportable (they are imported where used)."""
    modules = ["vp3d", "vp3d.lift", "vp3d.corpus", "vp3d.cli", "vp3d.pipeline.infer", "vp3d.pipeline.evaluation",
               "vp3d.pipeline.preprocess", "vp3d.io.formats", "vp3d.io.keypoints", "vp3d.io.animation",
               "vp3d.io.video", "vp3d.io.detections", "vp3d.viz.render", "vp3d.model.atc", "vp3d.model.quantize",
               "vp3d.detect.video", "vp3d_lift", "vp3d_detect", "vp3d_infer", "vp3d_postprocess", "vp3d_preprocess", "vp3d_convert", "vp3d_render",
               "vp3d_quantize", "vp3d_pth2onnx"]
    code = (f"import sys\nfor m in {list(blocked)!r}: sys.modules[m] = None\n"
            f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize("script, argv", [("vp3d_train.py", ["-d", "data", "-o", "m.bin"]),
                                          ("vp3d_pth2onnx.py", ["-m", "m.bin", "-o", "m.onnx"])])
def test_a_script_without_its_extra_says_which_in_one_line(script, argv):
    code = (f"import runpy, sys\nsys.modules['torch'] = None\nsys.argv = [{script!r}, *{argv!r}]\n"
            f"runpy.run_path({script!r}, run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr == f"error: {script} needs torch: pip install 'vp3d[torch]'\n", run.stderr
