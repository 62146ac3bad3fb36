"""The one error type vp3d raises for bad input; it imports nothing of vp3d, so every module can raise it."""


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
