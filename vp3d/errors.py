"""The one error type vp3d raises for bad input; it imports nothing of vp3d, so every module can raise it.
And the check that the core's dependencies are installed at all (check_core, run by `import vp3d`)."""
import importlib.util
import sys
from pathlib import Path


class Vp3dError(Exception):
    """A user-facing error: bad input file, bad flag value, missing tool.

    The message is one line naming the file (or value) and what was expected. Scripts print it to
    stderr and exit with status 2.
    """


class Terminated(BaseException):
    """SIGTERM, raised where the run is (cli.run's handler), so that it ends as Ctrl-C does: files being written
    removed, the report kept, a local Ray cluster shut down. A BaseException: no `except Exception` keeps it."""


# optional dependencies (import name) -> the pip extra that installs them (pyproject.toml)
EXTRAS = {"torch": "torch", "openvino": "openvino", "PIL": "render", "matplotlib": "render",
          "imageio_ffmpeg": "video", "scipy": "people", "ray": "ray"}


def needs_extra(what: str, extra: str, module: str) -> Vp3dError:
    """The one-line error for a feature whose optional dependency is missing: `what` needs `module`,
    installed with `pip install 'vp3d[extra]'`."""
    return Vp3dError(f"{what} needs {module}: pip install 'vp3d[{extra}]'")


def missing_extra(error: ModuleNotFoundError, what: str) -> Vp3dError | None:
    """needs_extra for an ImportError of one of EXTRAS' modules (None for any other module)."""
    top = (error.name or "").split(".")[0]
    return needs_extra(what, EXTRAS[top], top) if top in EXTRAS else None


def first_line(error: BaseException) -> str:
    """What a one-line error quotes of an exception: its message's first non-empty line, or its type's name
    where the message is empty."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# the core's dependencies (import name -> pip name): pyproject.toml's [project] dependencies (a test keeps them equal)
CORE = {"numpy": "numpy", "onnx": "onnx", "onnxruntime": "onnxruntime", "tqdm": "tqdm", "orjson": "orjson"}


def check_core() -> None:
    """Where a core dependency is not installed for this Python (the system python3 instead of the project's
    environment): one line saying which and how to install them. From a vp3d script that line is printed
    and the script exits with status 2; an import raises ImportError with it."""
    missing = [pip for module, pip in CORE.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    main = Path(getattr(sys.modules.get("__main__"), "__file__", None) or "").name
    script = main if main.startswith("vp3d_") else ""
    run = f".venv/bin/python {script} ..." if script else ".venv/bin/python"
    message = (f"{script or 'vp3d'} needs {', '.join(missing)}, not installed for {sys.executable}: use the "
               f"project's environment (make, then {run}) or install the package into this Python (pip install .)")
    if script:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
    raise ImportError(message)
