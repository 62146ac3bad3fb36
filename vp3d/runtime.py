"""Inference backends behind one interface: open_session(model, backend, ...).run(x) -> y.

x is the model input (2, L, J, 2) float32, y the output (2, L - RF + 1, J, 3) float32, metres.

    backend      model file             devices            precision
    onnxruntime  .onnx                  cpu, cuda, tensorrt  f32
    openvino     .onnx or .xml (IR)     cpu                f32, bf16 (CPUs with bf16 only)
    torch        checkpoint .bin/.pth   cpu, cuda          f32   (eager: upstream's baseline)
    ais_bench    .om (ATC output)       npu                (the .om's own)

'auto' picks the backend from the model's suffix and the device from what is installed, once, here
(resolve_backend, resolve_device); other code takes both as arguments. Every session defaults to one
thread per physical core and uses its engine's recommended low-latency settings (see each class).
The ais_bench backend is not a Session: it runs the real tool on a whole directory (ais_bench_command,
run_ais_bench), since its timings come from the NPU, not from Python.
"""
from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import Vp3dError

BACKENDS = ("auto", "onnxruntime", "openvino", "torch", "ais_bench")
DEVICES = ("auto", "cpu", "cuda", "tensorrt", "npu")   # tensorrt: ONNX Runtime's TensorRT EP on the GPU
PRECISIONS = ("f32", "bf16")
CHECKPOINT_SUFFIXES = (".bin", ".pth", ".pt", ".tar")
MODEL_SUFFIXES = {                                     # backend -> model files it reads
    "onnxruntime": (".onnx",),
    "openvino": (".onnx", ".xml"),
    "torch": CHECKPOINT_SUFFIXES,
    "ais_bench": (".om",),
}
AIS_BENCH_HELP = ("the ais_bench backend needs the ais_bench tool (python3 -m ais_bench) and the CANN toolkit "
                  "on a machine with an Ascend NPU; install both from the Ascend tools repository "
                  "(https://gitee.com/ascend/tools, ais-bench_workload/tool/ais_bench) and source "
                  "/usr/local/Ascend/ascend-toolkit/set_env.sh")


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


# ---------------------------------------------------------------------------------------------
# Choosing backend and device (once)
# ---------------------------------------------------------------------------------------------

def resolve_backend(model: str | Path, backend: str = "auto") -> str:
    """The backend for `model`: 'auto' goes by suffix (.onnx -> onnxruntime, .xml -> openvino,
    .om -> ais_bench, .bin/.pth/.pt/.tar -> torch). Raises Vp3dError when the two don't fit."""
    suffix = Path(model).suffix.lower()
    if backend == "auto":
        for name, suffixes in MODEL_SUFFIXES.items():
            if suffix in suffixes:
                return name
        raise Vp3dError(f"{model}: cannot tell the backend from suffix {suffix!r}; expected one of "
                        f"{', '.join(sorted({s for v in MODEL_SUFFIXES.values() for s in v}))} or --backend")
    if backend not in MODEL_SUFFIXES:
        raise Vp3dError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if suffix not in MODEL_SUFFIXES[backend]:
        raise Vp3dError(f"{model}: the {backend} backend reads {' or '.join(MODEL_SUFFIXES[backend])} files, "
                        f"not {suffix or 'files without a suffix'}")
    return backend


def gpu_present() -> bool:
    """An NVIDIA GPU is visible to this process (its device nodes exist)."""
    return Path("/dev/nvidiactl").exists() and any(Path("/dev").glob("nvidia[0-9]*"))


def onnxruntime_gpu_devices() -> tuple[str, ...]:
    """Our device names ('cuda', 'tensorrt') whose ONNX Runtime execution providers are installed
    (onnxruntime-gpu) and usable (a GPU is present)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return ()
    providers = ort.get_available_providers()
    found = [d for d, p in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"))
             if p in providers]
    return tuple(found) if found and gpu_present() else ()


def resolve_device(device: str, backend: str) -> str:
    """The device `backend` runs on: 'auto' is the fastest one installed (a GPU when onnxruntime-gpu
    or CUDA torch sees one, the NPU for ais_bench, else the CPU). Raises Vp3dError when an explicit
    device is not available, saying what is missing."""
    if device not in DEVICES:
        raise Vp3dError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if backend == "onnxruntime":
        available = ("cpu", *onnxruntime_gpu_devices())
        missing = ("needs onnxruntime-gpu (pip install onnxruntime-gpu; its CUDAExecutionProvider / "
                   "TensorrtExecutionProvider) and an NVIDIA GPU")
        auto = "cuda" if "cuda" in available else "cpu"
    elif backend == "torch":
        import torch
        available = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
        missing = "needs a CUDA build of torch and an NVIDIA GPU"
        auto = available[-1]
    elif backend == "openvino":
        available, missing, auto = ("cpu",), "is not supported: this backend runs OpenVINO's CPU plugin", "cpu"
    elif backend == "ais_bench":
        available, missing, auto = ("npu",), "is not supported: ais_bench runs .om models on an Ascend NPU", "npu"
    else:
        raise Vp3dError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if device == "auto":
        return auto
    if device not in available:
        raise Vp3dError(f"device {device} with the {backend} backend {missing}; available here: "
                        f"{', '.join(available)}")
    return device


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------

class Session:
    """A loaded model ready to run. Subclasses set the attributes and implement run().

    input_shape/output_shape are (2, L, J, C); L is None where the model takes any length
    (a checkpoint opened without a length): callers then choose it per input.
    """

    backend = ""
    device = "cpu"
    precision = "f32"
    threads = 1
    input_shape: tuple = ()
    output_shape: tuple = ()
    receptive_field: int | None = None   # known for checkpoints; for graphs, L_in - L_out + 1

    def run(self, x: np.ndarray) -> np.ndarray:
        """(2, L, J_in, 2) float32 -> (2, L - RF + 1, J_out, 3) float32."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line: engine, device, precision, threads, shapes."""
        out_len = f"(L-{self.receptive_field - 1})" if self.receptive_field else "L'"
        shape = lambda s, unknown: "x".join(unknown if d is None else str(d) for d in s)
        return (f"{self.backend} on {self.device} ({self.engine_detail()}), {self.precision}, {self.threads} threads, "
                f"input {shape(self.input_shape, 'L')} -> output {shape(self.output_shape, out_len)}")

    def engine_detail(self) -> str:
        return ""


def _static(dims) -> tuple:
    """Graph dims with symbolic/unknown ones as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


class OnnxRuntimeSession(Session):
    """ONNX Runtime. Recommended settings (onnxruntime.ai, "Tune performance: threading"):
    all graph optimisations, sequential execution (this graph has no parallel branches), intra-op
    threads = physical cores, one inter-op thread. On a GPU: the CUDA EP with exhaustive cuDNN
    convolution-algorithm search (the model's shapes are fixed, so the search is paid once), or the
    TensorRT EP with its engine cache, each falling back to the next provider for unsupported nodes."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "cpu"):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.threads = threads or physical_cores()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        cuda = ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "EXHAUSTIVE",
                                          "cudnn_conv_use_max_workspace": "1",
                                          "do_copy_in_default_stream": "1"})
        trt = ("TensorrtExecutionProvider", {"trt_engine_cache_enable": "True",
                                             "trt_engine_cache_path": str(Path(tempfile.gettempdir()) / "vp3d_trt_cache"),
                                             "trt_fp16_enable": "False"})
        providers = {"cpu": [], "cuda": [cuda], "tensorrt": [trt, cuda]}[device] + ["CPUExecutionProvider"]
        self.device = device
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:
            raise Vp3dError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0]})") from None
        self.providers = self.session.get_providers()
        if device != "cpu" and self.providers[0] != providers[0][0]:
            raise Vp3dError(f"{path}: ONNX Runtime did not start {providers[0][0]} for device {device} "
                            f"(running providers: {', '.join(self.providers)})")
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        self.input_shape = _static(inp.shape)
        self.output_shape = _static(out.shape)
        if None not in self.input_shape[1:2] + self.output_shape[1:2]:
            self.receptive_field = self.input_shape[1] - self.output_shape[1] + 1

    def engine_detail(self) -> str:
        return self.providers[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


def openvino_bf16_supported() -> tuple[bool, str]:
    """(whether OpenVINO's CPU plugin runs bf16 natively here, its OPTIMIZATION_CAPABILITIES)."""
    import openvino as ov
    caps = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return "BF16" in caps, " ".join(caps)


class OpenVinoSession(Session):
    """OpenVINO's CPU plugin, reading the ONNX file directly or an IR (.xml + .bin). Recommended
    low-latency settings (docs.openvino.ai, "Optimize inference: latency"): PERFORMANCE_HINT=LATENCY
    (one stream, all threads on one request), INFERENCE_NUM_THREADS = physical cores, and
    INFERENCE_PRECISION_HINT f32 (exact) or bf16 (about 2x faster where the CPU has AVX512-BF16 or
    AMX; ~0.5 % relative error). A bf16 request on a CPU without bf16 warns and runs f32: OpenVINO
    itself would silently do the same."""

    backend = "openvino"

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "f32"):
        import openvino as ov
        if precision not in PRECISIONS:
            raise Vp3dError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        if precision == "bf16":
            ok, caps = openvino_bf16_supported()
            if not ok:
                warnings.warn(f"this CPU has no bf16 support (OpenVINO CPU capabilities: {caps}); "
                              f"running f32 instead", stacklevel=3)
                precision = "f32"
        self.threads = threads or physical_cores()
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads,
                  "INFERENCE_PRECISION_HINT": precision}
        try:
            self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except Exception as e:
            raise Vp3dError(f"{path}: OpenVINO cannot load it ({str(e).strip().splitlines()[0]})") from None
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # what ran
        self.request = self.compiled.create_infer_request()
        dims = lambda port: tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        self.input_shape, self.output_shape = dims(self.compiled.input(0)), dims(self.compiled.output(0))
        if None not in self.input_shape[1:2] + self.output_shape[1:2]:
            self.receptive_field = self.input_shape[1] - self.output_shape[1] + 1

    def engine_detail(self) -> str:
        return "OpenVINO CPU plugin, LATENCY hint"

    def run(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data.copy()   # the request reuses its buffer


class TorchSession(Session):
    """PyTorch eager from a checkpoint: upstream's baseline. Settings: eval(), inference_mode(),
    torch.set_num_threads(physical cores) (process-wide), the Conv1d layout upstream runs.
    `length` fixes L in input_shape; None accepts any L >= the receptive field."""

    backend = "torch"

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "cpu",
                 length: int | None = None, layout: str = "conv1d", causal: bool = False):
        import torch
        from .checkpoint import load
        self.threads = threads or physical_cores()
        torch.set_num_threads(self.threads)
        self.device = device
        self.model = load(path, device, layout=layout, causal=causal).eval()
        c = self.model.config
        self.receptive_field = c.receptive_field
        if length is not None and length < c.receptive_field:
            raise Vp3dError(f"{path}: length {length} is shorter than the model's receptive field {c.receptive_field}")
        self.input_shape = (2, length, c.num_joints_in, c.in_features)
        self.output_shape = (2, None if length is None else length - c.receptive_field + 1, c.num_joints_out, 3)
        self.layout = layout

    def engine_detail(self) -> str:
        import torch
        return f"torch {torch.__version__} eager, {self.layout}"

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch
        if x.ndim != 4 or x.shape[1] < self.receptive_field:
            raise Vp3dError(f"input of shape {'x'.join(map(str, x.shape))}: expected (2, L, J, 2) with "
                            f"L >= the receptive field {self.receptive_field}")
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).cpu().numpy()


def open_session(model: str | Path, backend: str = "auto", threads: int | None = None, device: str = "auto",
                 precision: str = "f32", length: int | None = None) -> Session:
    """Load `model` with `backend` on `device` ('auto': see resolve_backend/resolve_device).

    `precision` 'bf16' is for openvino only; `length` (input frames L) is for checkpoints (torch).
    Errors (Vp3dError) name the file and what is missing.
    """
    model = Path(model)
    backend = resolve_backend(model, backend)
    if backend == "ais_bench":
        require_ais_bench(model)
        raise Vp3dError(f"{model}: ais_bench runs whole input directories, not single arrays; "
                        f"use ais_bench_command/run_ais_bench (vp3d_infer.py does)")
    if precision not in PRECISIONS:
        raise Vp3dError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision != "f32" and backend != "openvino":
        raise Vp3dError(f"precision {precision} needs the openvino backend; {backend} runs f32")
    device = resolve_device(device, backend)
    if not model.is_file():
        raise Vp3dError(f"{model}: no such model file")
    if backend == "onnxruntime":
        return OnnxRuntimeSession(model, threads, device)
    if backend == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise Vp3dError(f"{model}: the openvino backend needs OpenVINO (pip install openvino)") from None
        return OpenVinoSession(model, threads, precision)
    return TorchSession(model, threads, device, length)


# ---------------------------------------------------------------------------------------------
# ais_bench: the real tool, on an Ascend NPU
# ---------------------------------------------------------------------------------------------

def ais_bench_available() -> bool:
    """`python -m ais_bench` is importable by this interpreter."""
    return importlib.util.find_spec("ais_bench") is not None


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
