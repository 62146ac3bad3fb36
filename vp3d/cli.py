"""What every stage script shares: argument types and turning errors into one line and exit code 2."""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path

from vp3d.errors import Terminated, Vp3dError, missing_extra  # Vp3dError re-exported for scripts


def widths(text: str) -> tuple[int, ...]:
    """argparse type for '3,3,3,3,3'."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated odd integers like 3,3,3,3,3, got {text!r}")
    if not values or any(v < 1 or v % 2 == 0 for v in values):
        raise argparse.ArgumentTypeError(f"filter widths must be odd positive integers, got {text!r}")
    return values


def _number(text: str, kind, ok, what: str):
    """argparse type body: `text` as `kind`, checked by `ok`; ArgumentTypeError naming `what` otherwise."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_size(text: str) -> int:
    """argparse type for a size in bytes: '1048576', '512k', '1M', '2G' (binary units)."""
    m = re.fullmatch(r"\s*(\d{1,15})\s*([kKmMgG]?)[bB]?\s*", text)
    if not m or int(m[1]) == 0:
        raise argparse.ArgumentTypeError(f"expected a size in bytes such as 1048576, 512k, 64M or 1G, got {text!r}")
    return int(m[1]) * BYTE_UNITS[m[2].lower()]


def threads(text: str) -> int:
    """argparse type for --threads: 1 to this machine's CPUs (more only slows a run; a million would exhaust it)."""
    cpus = os.cpu_count() or 1
    return _number(text, int, lambda v: 1 <= v <= cpus, f"a number of threads from 1 to {cpus} (this machine's CPUs)")


def lengths(text: str) -> list[int]:
    """argparse type for --max-length: '6115' (one fixed length), '2048,4096,6115' (buckets) or '0'
    (every sequence at its own length) -> [6115], [2048, 4096, 6115], []."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a length like 6115, lengths like 2048,6115, or 0, got {text!r}")
    if values == [0]:
        return []
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"lengths must be positive (or a single 0 for own lengths), got {text!r}")
    return sorted(set(values))


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < float("inf"), "a positive number")


def subjects(text: str) -> list[str]:
    values = [s.strip() for s in text.split(",") if s.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected subjects like S9,S11, got {text!r}")
    return values


def actions(text: str) -> list[str]:
    """argparse type for -a: comma-separated action name prefixes, as upstream's (Walk,Jog,Box)."""
    values = [s.strip() for s in text.split(",") if s.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected action prefixes like Walk,Jog,Box, got {text!r}")
    return values


IMAGE_SIZE_HINT = "--image-size takes the frame size in pixels as W H or WxH, e.g. --image-size 1920 1080"


class _Parser(argparse.ArgumentParser):
    """argparse, taking --image-size as W H or WxH (and saying so when it cannot read it); a bad flag is one
    line 'error: ...' and exit 2, as any bad input (the usage is --help's)."""

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(split_image_size(sys.argv[1:] if args is None else list(args)), namespace)

    def error(self, message):
        if "--image-size" in message:
            message = f"{message} ({IMAGE_SIZE_HINT})"
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def split_image_size(argv: list[str]) -> list[str]:
    """argv with '--image-size WxH' (or '--image-size=WxH') as '--image-size W H'."""
    out = []
    for i, arg in enumerate(argv):
        m = re.fullmatch(r"(\d+)[xX](\d+)", arg)
        if m and i and argv[i - 1] == "--image-size":
            out.extend(m.groups())
        elif (m := re.fullmatch(r"--image-size=(\d+)[xX](\d+)", arg)):
            out.extend(["--image-size", *m.groups()])
        else:
            out.append(arg)
    return out


def add_image_size(p, help: str):
    """The --image-size option: (W, H) pixels, given as W H or WxH."""
    return p.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), default=None,
                          help=f"{help} (W H or WxH)")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default shown once: '(default: X)' where its help does not already say its default,
    nothing for options without one (None) or flags (False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False) or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def parser(description: str) -> argparse.ArgumentParser:
    p = _Parser(description=description, formatter_class=_HelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return p


def _terminate(signum, frame):
    raise Terminated()


def run(body, args) -> int:
    """Call body(args); a Vp3dError becomes one stderr line and exit code 2; Ctrl-C (KeyboardInterrupt) and
    SIGTERM (Terminated, raised by the handler installed meanwhile) end it with one line and 130 or 143."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        return body(args) or 0
    except Terminated:
        print("error: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Vp3dError as e:
        if args.debug:
            traceback.print_exc()
        return fail(e)
    except ModuleNotFoundError as e:  # an optional dependency: the extra that installs it
        if (missing := missing_extra(e, Path(sys.argv[0]).name or "this")) is None:
            raise
        if args.debug:
            traceback.print_exc()
        return fail(missing)
    except OSError as e:             # permissions, full disk: name the file, no traceback
        if args.debug:
            traceback.print_exc()
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def fail(error) -> int:
    """Print a Vp3dError (or message) as the one line 'error: ...' on stderr; the exit code, 2."""
    print(f"error: {error}", file=sys.stderr)
    return 2


def import_or_exit(script: str, load):
    """load() (a script's imports that need an optional extra); where one is missing, the one line saying
    which extra installs it, and exit 2."""
    try:
        return load()
    except ModuleNotFoundError as e:
        if (missing := missing_extra(e, script)) is None:
            raise
        sys.exit(fail(missing))
