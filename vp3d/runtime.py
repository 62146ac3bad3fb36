"""Inference backends behind one interface: open_session(model, backend, device).run(x) -> y.

x is the model input (2, L, J, 2) float32, y the output (2, L - RF + 1, J, 3) float32.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import Vp3dError

BACKENDS = ("onnxruntime",)


def physical_cores() -> int:
    """Physical CPU cores available to this process (hyper-threads don't help dense convolutions)."""
    try:
        cores = set()
        cpus = os.sched_getaffinity(0)
        for cpu in cpus:
            p = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            cores.add(((p / "physical_package_id").read_text().strip(), (p / "core_id").read_text().strip()))
        return max(1, len(cores))
    except (OSError, AttributeError):
        return max(1, (os.cpu_count() or 2) // 2)


class Session:
    """A loaded model ready to run. Subclasses set input_shape/output_shape and implement run()."""

    backend = ""
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxRuntimeSession(Session):
    """ONNX Runtime on the CPU: all graph optimisations, sequential execution, one thread per core."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads or physical_cores()
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise Vp3dError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0]})") from None
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(inp.shape)
        self.output_shape = tuple(out.shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


def open_session(model: str | Path, backend: str = "onnxruntime", threads: int | None = None) -> Session:
    """Load `model` with `backend`; errors name the file and what is missing."""
    model = Path(model)
    if not model.is_file():
        raise Vp3dError(f"{model}: no such model file")
    if backend == "onnxruntime":
        return OnnxRuntimeSession(model, threads)
    raise Vp3dError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
