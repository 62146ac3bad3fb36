"""Running the scripts on hostile input as a user's machine would: in a child process under a memory limit
(RLIMIT_AS) and a time limit, so that a regression that allocates gigabytes or loops fails its test instead
of taking the machine. What every case must show (GUIDE: bad input): exit 2 (1 for a corpus run with
failures), one stderr line naming the file, no traceback, nothing written outside the output."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from repo_paths import ROOT

MEMORY_LIMIT = 3 << 29          # 1.5 GiB of address space for a child: its imports (numpy, ONNX Runtime) take ~0.4
TIME_LIMIT = 60.0               # seconds for a whole child (its cases, or its run)


def child_env(**extra) -> dict:
    """The environment of a child: the repository importable, one malloc arena per thread at most two (each
    reserves 64 MiB of address space), no Ray address from the machine."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), MALLOC_ARENA_MAX="2",
               OMP_NUM_THREADS="1", **extra)
    return env


def limit_memory(limit: int = MEMORY_LIMIT):
    """A preexec_fn: the child's address space capped at `limit` bytes (MemoryError beyond it)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


@dataclass
class Outcome:
    """What one run of a script's main gave."""

    rc: object          # the exit status, or 'crash' (an exception escaped main) / 'timeout'
    err: str
    out: str
    seconds: float

    def one_line(self, *fragments: str, rc: int = 2) -> str:
        """The GUIDE's promise: exit `rc`, stderr exactly one line 'error: ...' holding each fragment, no
        traceback. Returns the line."""
        assert self.rc == rc, (self.rc, self.err[-2000:])
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err[-2000:]
        assert "Traceback" not in self.err, self.err
        for f in fragments:
            assert f in lines[0], (f, lines[0])
        return lines[0]


# The child: imports the script once, caps its address space, then runs main(argv) for each case in turn,
# stdout and stderr captured, and prints {name: outcome} as JSON.
CHILD = r"""
import contextlib, importlib, io, json, resource, sys, time, traceback
module, limit = sys.argv[1], int(sys.argv[2])
cases = json.load(sys.stdin)
main = importlib.import_module(module).main
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
results = {}
for name, argv in cases.items():
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as e:
        rc = e.code
    except BaseException:
        rc = "crash"
        err.write(traceback.format_exc())
    results[name] = {"rc": rc, "err": err.getvalue(), "out": out.getvalue()[-4000:],
                     "seconds": round(time.perf_counter() - start, 3)}
print("\n" + json.dumps(results))
"""


def run_mains(module: str, cases: dict[str, list[str]], cwd: Path, limit: int = MEMORY_LIMIT,
              timeout: float = TIME_LIMIT) -> dict[str, Outcome]:
    """module.main(argv) for every case {name: argv}, in one child under `limit` bytes of address space
    (set after its imports) and `timeout` seconds in all: {name: Outcome}."""
    start = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, module, str(limit)], input=json.dumps(cases), text=True,
                           capture_output=True, cwd=cwd, env=child_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - start
        return {name: Outcome("timeout", "", "", seconds) for name in cases}
    if p.returncode != 0 or not p.stdout.strip():
        raise AssertionError(f"the child running {module} died ({p.returncode}): {p.stderr[-3000:]}")
    results = json.loads(p.stdout.strip().splitlines()[-1])
    return {name: Outcome(**r) for name, r in results.items()}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root: {relative path: bytes}."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_script(argv: list[str], stdin: bytes = b"", cwd: Path | None = None, limit: int = MEMORY_LIMIT,
               timeout: float = TIME_LIMIT, env: dict | None = None) -> Outcome:
    """python argv... as a user runs it, under `limit` bytes of address space and `timeout` seconds, `stdin`
    fed in: its Outcome (stdout whole)."""
    start = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, *map(str, argv)], input=stdin, capture_output=True, cwd=cwd,
                           env=env or child_env(), timeout=timeout, preexec_fn=limit_memory(limit))
    except subprocess.TimeoutExpired as e:
        return Outcome("timeout", (e.stderr or b"").decode(errors="replace"), (e.stdout or b"").decode(errors="replace"),
                       time.perf_counter() - start)
    return Outcome(p.returncode, p.stderr.decode(errors="replace"), p.stdout.decode(errors="replace"),
                   time.perf_counter() - start)
