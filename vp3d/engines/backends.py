"""Inference backends: one registry entry each (model files, devices, precisions, session class).

A Session runs x (2, L, J, 2) float32 -> y (2, L - RF + 1, J, 3) float32, metres.

    backend      model file             devices               precisions
    onnxruntime  .onnx                  cpu, cuda, tensorrt   f32
    openvino     .onnx or .xml (IR)     cpu                   f32, bf16 (CPUs with bf16 only)
    torch        checkpoint .bin/.pth   cpu, cuda             f32, bf16, fp16 (fp16: cuda; autocast)
    ais_bench    .om (ATC output)       npu                   (the .om's own): runs whole directories, see ais_bench.py

ONNX Runtime and OpenVINO also run vp3d_quantize.py's int8 files (their precision then reads 'int8',
or 'int8+bf16' where OpenVINO runs the parts left fp32 in bf16).

'auto' picks the backend from the model's suffix (resolve_backend) and the device from what is
installed (devices.py), once; other code takes both as arguments. Every session defaults to one
thread per physical core and its engine's recommended low-latency settings (see each class). Each
session also says what it knows of the model's facts (`config`: a ModelConfig from the checkpoint's
model_args or the ONNX metadata, None where the file cannot tell), so callers can check inputs.
Adding a backend touches one place: a class here and its entry in REGISTRY.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vp3d.errors import Vp3dError, first_line
from vp3d.io.files import refuse_empty
from vp3d.engines import devices
from vp3d.engines.ais_bench import AIS_BENCH_HELP
from vp3d.facts.architecture import ModelConfig
from vp3d.io.onnx_meta import facts_from_metadata, precision_label, read_onnx_metadata

CHECKPOINT_SUFFIXES = (".bin", ".pth", ".pt", ".tar")


class Session:
    """A loaded model ready to run. Subclasses set the attributes and implement run().

    input_shape/output_shape are (2, L, J, C); L is None where the model takes any length.
    """

    backend = ""
    device = "cpu"
    precision = "f32"
    threads = 1
    input_shape: tuple = ()
    output_shape: tuple = ()
    receptive_field: int | None = None   # from the facts, or for fixed graphs L_in - L_out + 1
    config: ModelConfig | None = None    # the model's facts where the file records them
    trajectory: Session | None = None    # a checkpoint's trajectory model (the root), where it has one

    @property
    def length(self) -> int | None:
        """Fixed input frames L, or None for any length."""
        return self.input_shape[1] if self.input_shape else None

    def run(self, x: np.ndarray) -> np.ndarray:
        """(2, L, J_in, 2) float32 -> (2, L - RF + 1, J_out, 3) float32."""
        raise NotImplementedError

    def check_input(self, x: np.ndarray) -> None:
        """Vp3dError unless x is (2, L, J, 2) with L at least the receptive field (where known)."""
        if x.ndim != 4 or (self.receptive_field is not None and x.shape[1] < self.receptive_field):
            raise Vp3dError(f"input of shape {'x'.join(map(str, x.shape))}: expected (2, L, J, 2) with "
                            f"L >= the receptive field {self.receptive_field}")

    def describe(self) -> str:
        """One line: engine, device, precision, threads, shapes."""
        out_len = f"(L-{self.receptive_field - 1})" if self.receptive_field else "L'"
        shape = lambda s, unknown: "x".join(unknown if d is None else str(d) for d in s)
        return (f"{self.backend} on {self.device} ({self.engine_detail()}), {self.precision}, {self.threads} threads, "
                f"input {shape(self.input_shape, 'L')} -> output {shape(self.output_shape, out_len)}")

    def engine_detail(self) -> str:
        return ""

    def _shapes(self, input_shape, output_shape) -> None:
        """Set the shapes (unknown dims None) and the receptive field they imply, or the facts give."""
        self.input_shape, self.output_shape = _static(input_shape), _static(output_shape)
        if self.config is not None:
            self.receptive_field = self.config.receptive_field
        elif None not in self.input_shape[1:2] + self.output_shape[1:2]:
            self.receptive_field = self.input_shape[1] - self.output_shape[1] + 1


def run_rounded(run, x: np.ndarray, step: int) -> np.ndarray:
    """run(x) with x's L rounded up to a multiple of `step` by repeating its last frame, the output cropped
    back to L - RF + 1 frames: the same result (an output frame depends on no later input frame than
    its window's), while inputs of nearby lengths share one shape, for engines that compile or tune
    per shape (OpenVINO, cuDNN)."""
    length = x.shape[1]
    n = round_up(length, step)
    if n != length:
        x = np.pad(x, ((0, 0), (0, n - length), (0, 0), (0, 0)), mode="edge")
    y = run(x)
    return y[:, :y.shape[1] - (n - length)]


def round_up(n: int, step: int) -> int:
    """n rounded up to a multiple of step."""
    return -(-n // step) * step


def _static(dims) -> tuple:
    """Graph dims with symbolic/unknown ones as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


def ort_session(model: str | Path | bytes, threads: int, device: str = "cpu", name: str | Path | None = None,
                spin: bool = True):
    """An onnxruntime.InferenceSession of `model` (a path, or the file's bytes: then `name` says what it is in
    errors) with OnnxRuntimeSession's settings on `device` ('cpu', 'cuda', 'tensorrt'); Vp3dError where ONNX
    Runtime cannot load it or does not start the GPU provider the device asks for. spin=False: the intra-op
    threads sleep between runs instead of spinning (where Python work runs between the calls, spinning threads
    take its cores)."""
    import onnxruntime as ort
    name = name or model
    opts = ort.SessionOptions()
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    cuda = ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "EXHAUSTIVE",
                                      "cudnn_conv_use_max_workspace": "1",
                                      "do_copy_in_default_stream": "1"})
    trt = ("TensorrtExecutionProvider", {"trt_engine_cache_enable": "True",
                                         "trt_engine_cache_path": str(Path(tempfile.gettempdir()) / "vp3d_trt_cache"),
                                         "trt_fp16_enable": "False"})
    providers = {"cpu": [], "cuda": [cuda], "tensorrt": [trt, cuda]}[device] + ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts, providers=providers)
    except Exception as e:
        raise Vp3dError(f"{name}: ONNX Runtime cannot load it ({first_line(e)})") from None
    running = session.get_providers()
    if device != "cpu" and running[0] != providers[0][0]:
        raise Vp3dError(f"{name}: ONNX Runtime did not start {providers[0][0]} for device {device} "
                        f"(running providers: {', '.join(running)})")
    return session


class OnnxRuntimeSession(Session):
    """ONNX Runtime. Recommended settings (onnxruntime.ai, "Tune performance: threading"):
    all graph optimisations, sequential execution (this graph has no parallel branches), intra-op
    threads = physical cores, one inter-op thread. On a GPU: the CUDA EP with exhaustive cuDNN
    convolution-algorithm search (paid once per input shape), or the TensorRT EP with its engine
    cache, each falling back to the next provider for unsupported nodes."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "cpu", **_):
        self.threads = threads or devices.physical_cores()
        self.device = device
        self.session = ort_session(path, self.threads, device)
        self.providers = self.session.get_providers()
        props = self.session.get_modelmeta().custom_metadata_map
        self.config = facts_from_metadata(props, path)
        self.precision = precision_label(props, "f32")
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        self._shapes(inp.shape, out.shape)

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
    INFERENCE_PRECISION_HINT f32 (exact) or bf16 (where the CPU has AVX512-BF16 or AMX; ~0.5 % relative
    error). A bf16 request on a CPU without bf16 warns and runs f32: OpenVINO itself would silently do
    the same.

    A model with a dynamic time axis is compiled once, its time axis bounded below by the receptive
    field (read off the graph: ov_receptive_field): left unbounded, the plugin cannot prove that every
    layer's output is at least one frame long and runs the deepest dilated convolution on a reference
    kernel. A length's first run pays a one-off preparation, kept in the plugin's shape cache (capped
    at RUNTIME_CACHE entries: at the plugin's default, memory grows with every new length); prepare()
    pays it ahead for lengths known in advance. docs/benchmarks.md has the measurements.

    One kind of graph is the exception: OpenVINO 2026.4 miscomputes a quantized graph (FakeQuantize)
    whose residual crops compute their bounds from the input's shape once its time axis is bounded.
    vp3d exports constant bounds (TemporalModel.crop); int8 files made from exports with computed
    bounds (ov_bounded_axis_unsafe) are compiled per input length instead, rounded up to STEP frames
    (run_rounded: exact), the last CACHE compiled lengths kept; prepare() compiles ahead."""

    backend = "openvino"
    STEP = 256        # frames: at most STEP - 1 padded frames computed per input (compiled per length)
    CACHE = 24        # compiled lengths kept
    RUNTIME_CACHE = 1024  # entries of the plugin's per-shape cache (CPU_RUNTIME_CACHE_CAPACITY)

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "f32", **_):
        import openvino as ov
        if precision == "bf16":
            ok, caps = openvino_bf16_supported()
            if not ok:
                warnings.warn(f"this CPU has no bf16 support (OpenVINO CPU capabilities: {caps}); "
                              f"running f32 instead", stacklevel=3)
                precision = "f32"
        self.threads = threads or devices.physical_cores()
        self.settings = settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads,
                                    "INFERENCE_PRECISION_HINT": precision,
                                    "CPU_RUNTIME_CACHE_CAPACITY": self.RUNTIME_CACHE}
        try:
            self.core = core = ov.Core()
            self.model = model = core.read_model(str(path))
            shape = model.input(0).get_partial_shape()
            rf = ov_receptive_field(model) if shape[1].is_dynamic else None
            self.per_length = rf is not None and ov_bounded_axis_unsafe(model)
            if rf is not None and not self.per_length:
                shape[1] = ov.Dimension(rf, -1)
                model.reshape({0: shape})
            compiled = core.compile_model(model, "CPU", settings)
        except Exception as e:
            raise Vp3dError(f"{path}: OpenVINO cannot load it ({first_line(e)})") from None
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # what ran
        if Path(path).suffix.lower() == ".onnx":
            props = read_onnx_metadata(path)
            self.config = facts_from_metadata(props, path)
            self.precision = precision_label(props, self.precision)
        dims = lambda port: tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        self._shapes(dims(compiled.input(0)), dims(compiled.output(0)))
        self.receptive_field = self.receptive_field or rf
        self.requests = {None if self.per_length else self.length: compiled.create_infer_request()}

    def engine_detail(self) -> str:
        return "OpenVINO CPU plugin, LATENCY hint" + ("" if self.length is not None else
                                                      f", compiled per {self.STEP} frames" if self.per_length
                                                      else ", any length")

    def _request(self, length: int):
        """The infer request for inputs of `length` frames (a static length when compiled per length)."""
        if not self.per_length:
            return self.requests[self.length]
        if length not in self.requests:
            model = self.model.clone()
            model.reshape({0: [*self.input_shape[:1], length, *self.input_shape[2:]]})
            self.requests[length] = self.core.compile_model(model, "CPU", self.settings).create_infer_request()
            while len(self.requests) > self.CACHE + 1:                # + the dynamic one, never used to run
                del self.requests[next(k for k in self.requests if k is not None)]
        return self.requests[length]

    def prepare(self, lengths) -> None:
        """Prepare ahead the inputs of `lengths` frames: compile their lengths (quantized graphs) or run
        each once (its one-off preparation)."""
        if self.per_length:
            for n in sorted({round_up(n, self.STEP) for n in lengths})[-self.CACHE:]:
                self._request(n)
        elif self.length is None:
            for n in sorted(set(lengths)):
                self.run(np.zeros((*self.input_shape[:1], n, *self.input_shape[2:]), np.float32))

    def _run(self, x: np.ndarray) -> np.ndarray:
        request = self._request(x.shape[1])
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()    # the request reuses its buffer

    def run(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x)
        return run_rounded(self._run, x, self.STEP) if self.per_length else self._run(x)


def ov_bounded_axis_unsafe(model) -> bool:
    """Whether `model` (an OpenVINO model) is a quantized graph with Slice bounds computed from shapes:
    the kind OpenVINO 2026.4 miscomputes with a bounded time axis (see OpenVinoSession)."""
    ops = model.get_ops()
    computed = lambda op: any(op.input_value(i).get_node().get_type_name() != "Constant" for i in (1, 2))
    return (any(op.get_type_name() == "FakeQuantize" for op in ops)
            and any(op.get_type_name() == "Slice" and computed(op) for op in ops))


def ov_receptive_field(model) -> int:
    """Receptive field (frames) of an OpenVINO model with a dynamic time axis: input minus output
    frames + 1 at a probe length, by shape inference alone."""
    import openvino as ov
    probe = model.clone()
    shape = probe.input(0).get_partial_shape()
    n = 1 << 16
    shape[1] = ov.Dimension(n)
    probe.reshape({0: shape})
    return n - probe.output(0).get_partial_shape()[1].get_length() + 1


class TorchSession(Session):
    """PyTorch eager from a checkpoint (upstream's baseline), or from a model in memory (of_model: training's
    validation). Settings: eval(), inference_mode(), torch.set_num_threads(physical cores) (process-wide),
    the Conv1d weight layout upstream runs. bf16/fp16 run under torch.autocast (weights stay f32; convolutions in
    the narrow type). `length` fixes L in input_shape; None accepts any L >= the receptive field.
    Causality: the checkpoint's model_args, else `causal` (upstream files cannot tell). A checkpoint's
    trajectory model (upstream's model_traj) comes as `trajectory`, a session of its own (one output
    joint: the root, camera frame). On CUDA, inputs of any length run at lengths rounded up to STEP
    frames (run_rounded: exact), so that nearby lengths share cuDNN's per-shape plans; timing cuDNN's
    algorithms for every new shape (cudnn.benchmark) costs more than it saves on own-length inputs."""

    backend = "torch"
    AUTOCAST = {"bf16": "bfloat16", "fp16": "float16"}
    STEP = 256        # frames, on CUDA

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "cpu", precision: str = "f32",
                 length: int | None = None, causal: bool | None = None, weight_layout: str = "conv1d", **_):
        import torch
        from vp3d.model.checkpoint import load_with_trajectory
        if precision == "fp16" and device != "cuda":
            raise Vp3dError(f"{path}: precision fp16 with torch needs --device cuda (CPUs run bf16 or f32)")
        torch.set_num_threads(threads or devices.physical_cores())
        model, traj = load_with_trajectory(path, device, weight_layout=weight_layout, causal=causal)
        self._setup(model, device, precision, length, path)
        if traj is not None:
            self.trajectory = TorchSession.of_model(traj, device, precision, length)

    @classmethod
    def of_model(cls, model, device: str = "cpu", precision: str = "f32", length: int | None = None,
                 where: str = "model") -> "TorchSession":
        """A session for a TemporalModel in memory (on `device`, the process's torch threads as they are)."""
        session = cls.__new__(cls)
        session._setup(model, device, precision, length, where)
        return session

    def _setup(self, model, device: str, precision: str, length: int | None, where) -> None:
        import torch
        self.threads = torch.get_num_threads()
        self.device, self.precision, self.weight_layout = device, precision, model.config.weight_layout
        self.model = model.eval()
        self.config = c = model.config
        self.trajectory = None
        if length is not None and length < c.receptive_field:
            raise Vp3dError(f"{where}: length {length} is shorter than the model's receptive field {c.receptive_field}")
        self._shapes((2, length, c.num_joints_in, c.in_features),
                     (2, None if length is None else length - c.receptive_field + 1, c.num_joints_out, 3))

    def engine_detail(self) -> str:
        import torch
        with_traj = ", with trajectory model" if self.trajectory else ""
        return f"torch {torch.__version__} eager, {self.weight_layout}{with_traj}"

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch
        self.check_input(x)
        dtype = getattr(torch, self.AUTOCAST.get(self.precision, "float32"))

        def run(a: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), torch.autocast(torch.device(self.device).type, dtype,
                                                       enabled=self.precision != "f32"):
                return self.model(torch.from_numpy(a).to(self.device)).float().cpu().numpy()
        return run_rounded(run, x, self.STEP) if self.device == "cuda" and self.length is None else run(x)


@dataclass(frozen=True)
class Backend:
    """One inference engine: which model files it reads, where and in what precisions it runs."""

    name: str
    suffixes: tuple[str, ...]                     # model files it reads
    supported: tuple[str, ...]                    # devices it can ever run on
    available: Callable[[], tuple[str, ...]]      # devices usable here, fastest first (devices.py)
    missing: str                                  # what to install when a device is not available
    precisions: tuple[str, ...]
    session: type | None                          # None: runs whole directories, not arrays (ais_bench)

    def resolve_device(self, device: str) -> str:
        return devices.resolve_device(device, self.available(), self.supported, f"the {self.name} backend",
                                      self.missing)


REGISTRY = {b.name: b for b in (
    Backend("onnxruntime", (".onnx",), ("cpu", "cuda", "tensorrt"), lambda: devices.onnxruntime_devices(),
            "needs onnxruntime (GPUs: onnxruntime-gpu, with its CUDA/TensorRT execution providers, and an "
            "NVIDIA GPU)", ("f32",), OnnxRuntimeSession),
    Backend("openvino", (".onnx", ".xml"), ("cpu",), lambda: devices.openvino_devices(),
            "needs OpenVINO: pip install 'vp3d[openvino]'", ("f32", "bf16"), OpenVinoSession),
    Backend("torch", CHECKPOINT_SUFFIXES, ("cpu", "cuda"), lambda: devices.torch_devices(),
            "needs torch (pip install 'vp3d[torch]'; for cuda, a CUDA build and an NVIDIA GPU)",
            ("f32", "bf16", "fp16"), TorchSession),
    Backend("ais_bench", (".om",), ("npu",), lambda: devices.npu_devices(),
            AIS_BENCH_HELP.removeprefix("the ais_bench backend "), ("f32",), None),
)}
BACKENDS = ("auto", *REGISTRY)
PRECISIONS = tuple(dict.fromkeys(p for b in REGISTRY.values() for p in b.precisions))


def resolve_backend(model: str | Path, backend: str = "auto") -> str:
    """The backend for `model`: 'auto' goes by suffix (the first registry entry reading it).
    Raises Vp3dError when the two don't fit."""
    suffix = Path(model).suffix.lower()
    if backend == "auto":
        for b in REGISTRY.values():
            if suffix in b.suffixes:
                return b.name
        raise Vp3dError(f"{model}: cannot tell the backend from suffix {suffix!r}; expected one of "
                        f"{', '.join(sorted({s for b in REGISTRY.values() for s in b.suffixes}))} or --backend")
    if backend not in REGISTRY:
        raise Vp3dError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if suffix not in REGISTRY[backend].suffixes:
        raise Vp3dError(f"{model}: the {backend} backend reads {' or '.join(REGISTRY[backend].suffixes)} files, "
                        f"not {suffix or 'files without a suffix'}")
    return backend


def check_precision(backend: str, precision: str) -> None:
    """Vp3dError unless `backend` runs `precision`."""
    if precision not in REGISTRY[backend].precisions:
        runs = ", ".join(REGISTRY[backend].precisions)
        others = [b.name for b in REGISTRY.values() if precision in b.precisions]
        raise Vp3dError(f"precision {precision}: the {backend} backend runs {runs}"
                        + (f"; {precision} needs --backend {' or '.join(others)}" if others else ""))


def open_session(model: str | Path, backend: str = "auto", threads: int | None = None, device: str = "auto",
                 precision: str = "f32", length: int | None = None, causal: bool | None = None) -> Session:
    """Load `model` with `backend` on `device` ('auto': see resolve_backend and devices.py).

    `length` (input frames L) and `causal` are for checkpoints (torch): exported graphs fix or record
    them. Errors (Vp3dError) name the file and what is missing.
    """
    model = Path(model)
    backend = resolve_backend(model, backend)
    entry = REGISTRY[backend]
    check_precision(backend, precision)
    try:
        device = entry.resolve_device(device)
    except Vp3dError as e:
        raise Vp3dError(f"{model}: {e}") from None
    if entry.session is None:
        raise Vp3dError(f"{model}: {backend} runs whole input directories, not single arrays "
                        f"(vp3d_infer.py runs it)")
    if not model.is_file():
        raise Vp3dError(f"{model}: no such model file")
    refuse_empty(model, f"a model for {backend} ({', '.join(entry.suffixes)})")
    return entry.session(model, threads=threads, device=device, precision=precision, length=length, causal=causal)
