"""Lifting a corpus: many keypoint files or videos, one pose file and one report line each, in process or on Ray Data.

    inputs = expand_inputs(["clips/", "more/*.json", "@list.txt"], recursive=True)
    jobs = plan_jobs(inputs, "lifted/", "npz")                       # input i -> lifted/<unique stem>.npz
    summary = lift_corpus(jobs, "lifted/", ModelSpec("model.onnx"), LiftOptions(image_size=(1920, 1080)))
    summary.rows                                                     # one report row per input, in input order

Every input is lifted by lift_one (the in-process run and every Ray actor call the same function): all the
sequences it holds go into one output file, written atomically (io.files.atomic_path: the file exists only
once complete), and the outcome is one JSON line in <out>/lift_report.jsonl (REPORT):

    {"input": path, "status": "ok" | "error", "outputs": [paths], "frames": T summed over its sequences,
     "seconds": wall time of its read + lift + write, "sequences": videos or people lifted, "dropped": fragments
     left out (io.keypoints.drop_short; both ok rows only), "keypoints": a video's 2D file (videos only),
     "error": one line (failures only)}

A video is detected first (LiftOptions.detector, opened once per process), its 2D file written beside its output
(out/clip.npz -> out/clip.mp4.npz) or reused where it records the same video and detector, then lifted as any
keypoint file: so on Ray the detection, the larger part of the work, runs on the workers too.

A bad input is an error line and the others go on. resume=True keeps the ok lines of an earlier run whose
outputs are the planned ones and exist, and lifts only the rest. run_ray does the same on Ray Data: the jobs
become a dataset (ray.data.from_items), map_batches runs them on a fixed pool of actors (LiftWorker), each
holding one loaded model; an actor killed mid-run is restarted and its unfinished task retried,
rewriting the same files: Ray Data's actor pools set max_restarts=-1 and max_task_retries=-1 themselves (passing
them to map_batches goes through its deprecated **ray_remote_args). Ray is imported only there (the [ray] extra).
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from vp3d.detect.video import DetectorSpec, check_detector_layout, corpus_keypoints_path, detections_for_video, opened
from vp3d.errors import Vp3dError, first_line, needs_extra
from vp3d.facts.limits import MAX_JSON_BYTES
from vp3d.io.files import atomic_path, loads_json, remove_temporaries, unique_stems
from vp3d.io.formats import write_poses
from vp3d.io.keypoints import FORMATS, is_openpose_folder, read_sequences
from vp3d.io.video import VIDEO_SUFFIXES, is_video
from vp3d.lift import Lifter, ModelSpec

REPORT = "lift_report.jsonl"                                       # the run report, inside the output folder
KEYPOINT_SUFFIXES = tuple(sorted({f.suffix for f in FORMATS}))     # what a folder contributes: .csv .json .npz
GLOB_CHARS = re.compile(r"[*?[]")
LOCAL = "local"                                                    # --ray without an address: a local cluster
RAY_ADDRESS = re.compile(r"auto|local|ray://\S+|[\w.-]+:\d+")
FILES_PER_BLOCK = 64          # Ray Data block and batch: spreads over the pool; at 16, Ray cost 1-2 ms a file
MAX_DEATHS = 3                # an input that killed its Ray worker this often is its error line, not tried again
LEDGER = ".vp3d_ray"          # DeathLedger's folder inside the output folder, during a Ray run
RAY_CONNECT_TIMEOUT = 30.0    # seconds to join a given Ray address before giving up with one line (--ray-timeout)


@dataclass(frozen=True)
class Input:
    """One keypoint file of the corpus: its path, and the name its output is made from (the path relative
    to the folder or glob it came from, without suffix; the stem for a file named directly)."""

    path: str
    name: str


@dataclass(frozen=True)
class Job:
    """Input `index` of the run: lift `input` into `output`."""

    index: int
    input: str
    output: str


@dataclass(frozen=True)
class LiftOptions:
    """What every input is read, lifted and written with. image_size (w, h) pixels for files that carry none;
    fps: the keypoints' frame rate (None: the rate each file records, else the model's; another is resampled, as
    Lifter.lift does), also the writer's (BVH's frame time); units, origin: BVH's; people, min_score, min_frames,
    max_frames, max_json_bytes: as io.keypoints.read_keypoints (max_frames also bounds resampling, as Lifter.lift)."""

    image_size: tuple[int, int] | None = None
    fps: float | None = None
    units: str | None = None
    origin: str | None = None
    people: str = "best"
    min_score: float | None = None
    min_frames: int | None = None
    max_frames: int | None = None
    max_json_bytes: int = MAX_JSON_BYTES
    detector: DetectorSpec | None = None      # videos among the inputs: their 2D detector
    redetect: bool = False                    # ... run even where a 2D file of the same video and detector exists


# ---------------------------------------------------------------------------------------------
# Inputs and outputs
# ---------------------------------------------------------------------------------------------

def _folder_files(folder: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    """The keypoint files (KEYPOINT_SUFFIXES) and videos (VIDEO_SUFFIXES) in `folder` (and below, when
    recursive), sorted; hidden files (atomic writes' temporaries among them), anything under `exclude` (the
    output folder) and a video whose own 2D file is beside it (<video file name>.npz, as vp3d_detect.py and
    upstream's infer_video_d2.py name it: detected already, that file is the input) left out."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    base = folder.resolve()
    inside = exclude is not None and exclude.is_relative_to(base)      # else nothing here is in it
    files = []
    for p in found:
        rel = p.relative_to(folder)
        if p.suffix.lower() not in KEYPOINT_SUFFIXES + VIDEO_SUFFIXES or any(part.startswith(".") for part in rel.parts):
            continue
        if inside and (base / rel).is_relative_to(exclude):
            continue
        if p.is_file():
            files.append(p)
    detected = {p.with_suffix("") for p in files if p.suffix.lower() == ".npz"}
    return sorted(p for p in files if not (is_video(p) and p in detected))


def _named(paths: Iterable[Path], base: Path) -> list[Input]:
    return [Input(str(p), str(p.relative_to(base).with_suffix(""))) for p in paths]


def _expand_one(spec: str, recursive: bool, exclude: Path | None, where: str = "") -> list[Input]:
    """One INPUT: a folder (its keypoint files), a glob (what it matches; folders among them as folders),
    or a file (kept as given: a missing one is that input's error)."""
    path = Path(spec)
    if GLOB_CHARS.search(spec):
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            raise Vp3dError(f"{where}{spec}: no files match")
        first = next(i for i, part in enumerate(path.parts) if GLOB_CHARS.search(part))
        fixed = Path(*path.parts[:first]) if first else Path(".")       # names: relative to the fixed part
        out = []
        for m in map(Path, matches):
            if m.is_dir():
                out += _named(_folder_files(m, recursive, exclude), fixed)
            elif not (exclude is not None and m.resolve().is_relative_to(exclude)):
                out += _named([m], fixed)
        return out
    if is_openpose_folder(path):                     # OpenPose's frames of one video: one input
        return [Input(spec, path.name)]
    if path.is_dir():
        files = _folder_files(path, recursive, exclude)
        if not files:
            raise Vp3dError(f"{where}{spec}: a folder without keypoint files ({', '.join(KEYPOINT_SUFFIXES)}) or videos"
                            f"{'' if recursive else '; --recursive reads its subfolders too'}")
        return _named(files, path)
    return [Input(spec, path.stem)]


def expand_inputs(specs: list[str], recursive: bool = False, exclude: str | Path | None = None) -> list[Input]:
    """Command-line INPUTs -> the keypoint files they name, in order, each once: a file as given; a folder's
    keypoint files (sorted; with recursive, its subfolders' too); a glob's matches (vp3d expands quoted
    patterns; '**' spans folders); @LIST: a text file of such INPUTs, one per line (blank lines and lines
    starting with # skipped; relative paths from the current folder, as typed). `exclude`: a folder whose
    files are never inputs (the output folder). Vp3dError for a glob without matches, a folder without
    keypoint files or a missing list."""
    exclude = Path(exclude).resolve() if exclude is not None else None
    out, seen = [], set()
    for spec in specs:
        if spec.startswith("@"):
            listed = Path(spec[1:])
            try:
                lines = listed.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise Vp3dError(f"{listed}: cannot read the input list ({getattr(e, 'strerror', None) or e}); "
                                f"expected a text file with one keypoint file, folder or glob per line") from None
            found = []
            for n, line in enumerate(lines, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    found += _expand_one(line, recursive, exclude, f"{listed} line {n}: ")
        else:
            found = _expand_one(spec, recursive, exclude)
        for item in found:
            key = os.path.abspath(item.path)
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def is_many(specs: list[str], inputs: list[Input]) -> bool:
    """Whether the INPUTs given name a corpus: several files, or a folder, glob or @list (whatever it holds)."""
    return len(inputs) > 1 or any(s.startswith("@") or GLOB_CHARS.search(s) or Path(s).is_dir() for s in specs)


def plan_jobs(inputs: list[Input], out_dir: str | Path, fmt: str = "npz") -> list[Job]:
    """Input i -> out_dir/<stem_i>.<fmt>, stems from the inputs' names made file-safe and unique
    (io.files.unique_stems): every output inside out_dir, no two inputs share one; the same inputs always
    get the same names."""
    out_dir = Path(out_dir)
    stems = unique_stems([i.name for i in inputs])
    return [Job(k, i.path, str(out_dir / f"{stem}.{fmt}")) for k, (i, stem) in enumerate(zip(inputs, stems))]


def ray_argv(argv: list[str]) -> list[str]:
    """argv with '--ray X', where X is not a Ray address (RAY_ADDRESS) but an input, as '--ray=local X'."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--ray" and not out[i + 1].startswith("-") and not RAY_ADDRESS.fullmatch(out[i + 1]):
            out[i] = f"--ray={LOCAL}"
    return out


# ---------------------------------------------------------------------------------------------
# One input
# ---------------------------------------------------------------------------------------------

def lift_one(lifter: Lifter, input_path: str | Path, output: str | Path, options: LiftOptions) -> dict:
    """Lift every sequence of one keypoint file (or video: video_keypoints) and write them all to `output` (its
    suffix: the format), atomically. -> the report row; a failure (a bad file, a model/file mismatch) is a row with
    status 'error' and its one-line message, never an exception."""
    start = time.perf_counter()
    row = {"input": str(input_path), "status": "ok", "outputs": [], "frames": 0, "seconds": 0.0}
    try:
        source = input_path
        if is_video(input_path):                  # its 2D file beside the output, made (or reused) first
            source = video_keypoints(input_path, output, options)
            row["keypoints"] = str(source)
        seqs, dropped = read_sequences(source, options.people, options.min_score, options.min_frames,
                                       options.max_frames, options.max_json_bytes)
        if Path(output).suffix.lower() == ".bvh" and len(seqs) > 1:
            raise Vp3dError(f"{input_path}: holds {len(seqs)} videos, a BVH file holds one motion; "
                            f"write npz, json or csv (--format)")
        poses = lifter.lift_sequences(seqs, options.image_size, fps=options.fps,       # None: each file's rate
                                      max_frames=options.max_frames)
        fps = poses.fps
        write_poses(output, poses, fps=fps, units=options.units, origin=options.origin)
        row.update(outputs=[str(output)], frames=sum(s.frames for s in seqs), sequences=len(seqs),
                   dropped=len(dropped))
    except Exception as e:                        # any failure of this input is its report line
        message = str(e) if isinstance(e, Vp3dError) else f"{input_path}: {type(e).__name__}: {e}"
        row.update(status="error", error=" ".join(message.split()))
    row["seconds"] = round(time.perf_counter() - start, 6)
    return row


def video_keypoints(video: str | Path, output: str | Path, options: LiftOptions) -> Path:
    """The 2D file of a corpus's video (detect.video.corpus_keypoints_path), made by options.detector (opened once
    per process) or reused where it records the same video and detector."""
    if options.detector is None:
        raise Vp3dError(f"{video}: a video; this run has no 2D detector (vp3d_lift.py gives one: --detector)")
    path, _ = detections_for_video(video, corpus_keypoints_path(video, output), opened(options.detector),
                                   options.redetect, progress=False, say=lambda line: None)
    return path


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def read_report(path: str | Path) -> list[dict]:
    """The rows of a run report; lines that are not a JSON object naming its input (a run killed while writing
    one, or anything else) skipped."""
    rows = []
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        try:
            row = loads_json(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("input"), str):
            rows.append(row)
    return rows


def done_before(jobs: list[Job], report: str | Path) -> dict[int, dict]:
    """{job index: its earlier row} for the jobs an earlier run finished: an ok row for the same input
    whose outputs are this plan's and exist (written atomically: existing means complete)."""
    ok = {os.path.abspath(r["input"]): r for r in read_report(report) if r.get("status") == "ok"}
    done = {}
    for job in jobs:
        row = ok.get(os.path.abspath(job.input))
        if row is not None and row.get("outputs") == [job.output] and Path(job.output).is_file():
            done[job.index] = row
    return done


class ReportWriter:
    """Appends one JSON line per finished input to the report, flushed at once (an interrupted run keeps
    every line it wrote). Starts the file atomically with `carried` rows (those of a resumed run)."""

    def __init__(self, path: str | Path, carried: Iterable[dict] = ()):
        self.path = Path(path)
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in carried))
        self.file = open(self.path, "a")

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------

@dataclass
class Summary:
    """A run's outcome: every input's row (in input order), how many were done before (resume), the report."""

    rows: list[dict]
    resumed: int
    report: Path
    seconds: float

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]


def run_local(lifter: Lifter, jobs: list[Job], options: LiftOptions, emit: Callable[[dict], None],
              progress: bool | None = None) -> None:
    """Lift `jobs` in turn in this process with one loaded model; emit(row) as each finishes. progress: a
    tqdm bar over the files (None: only on a terminal)."""
    from tqdm import tqdm
    for job in tqdm(jobs, desc="lift", unit="file", disable=None if progress is None else not progress):
        emit(lift_one(lifter, job.input, job.output, options) | {"index": job.index})


class DeathLedger:
    """What outlives a Ray worker killed by its input (a native crash, the OOM killer): which input each actor
    is on, and which inputs killed one. Files in `folder` (in the output folder, removed after the run):
    '<actor>.current' the index of the input the actor is lifting (rewritten in place, a few bytes per file);
    '<actor>.<pid>.died' one per death, holding the index it died on, written by the restarted actor (Ray
    restarts an actor under the same id and retries its task there). deaths(index) counts them."""

    def __init__(self, folder: str | Path, actor: str):
        self.folder = Path(folder)
        current = self.folder / f"{actor}.current"
        if current.is_file() and (index := current.read_text().strip()) not in ("", "-"):     # this is a restart
            (self.folder / f"{actor}.{os.getpid()}.died").write_text(index)
        self.fd = os.open(current, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.seen, self.counts = None, {}

    def deaths(self, index: int) -> int:
        """Workers input `index` has killed so far (re-read when a death was recorded since the last look)."""
        mtime = os.stat(self.folder).st_mtime_ns
        if mtime != self.seen:
            self.seen, self.counts = mtime, {}
            for f in self.folder.glob("*.died"):
                with contextlib.suppress(OSError, ValueError):
                    died = int(f.read_text())
                    self.counts[died] = self.counts.get(died, 0) + 1
        return self.counts.get(index, 0)

    def start(self, index: int | None) -> None:
        """Record that this actor now lifts input `index` (None: none)."""
        os.pwrite(self.fd, f"{'-' if index is None else index:<20}\n".encode(), 0)


class LiftWorker:
    """A Ray Data actor: one loaded model (ModelSpec.load with `threads` CPU threads), lifting the batches
    map_batches hands it ({'index', 'input', 'output'} columns) -> {'index', 'row': JSON report rows}. With a
    ledger folder (DeathLedger), an input that has killed its worker MAX_DEATHS times is not lifted again:
    its row is an error."""

    def __init__(self, spec: ModelSpec, options: LiftOptions, threads: int | None = None, ledger: str | None = None):
        if ledger is not None:
            import ray
            self.ledger = DeathLedger(ledger, ray.get_runtime_context().get_actor_id())
        else:
            self.ledger = None
        self.lifter = spec.load(threads)
        if options.detector is not None and threads:          # the actor's share of the CPUs
            options = dataclasses.replace(options, detector=dataclasses.replace(options.detector, threads=threads))
        self.options = options

    def __call__(self, batch: dict) -> dict:
        rows = [self.lift(int(k), str(i), str(o)) for k, i, o in zip(batch["index"], batch["input"], batch["output"])]
        if self.ledger is not None:
            self.ledger.start(None)
        return {"index": list(batch["index"]), "row": [json.dumps(r) for r in rows]}

    def lift(self, index: int, input_path: str, output: str) -> dict:
        if self.ledger is not None:
            if (deaths := self.ledger.deaths(index)) >= MAX_DEATHS:
                return {"input": input_path, "status": "error", "outputs": [], "frames": 0, "seconds": 0.0,
                        "error": f"{input_path}: killed its worker process {deaths} times (a crash of the process "
                                 f"itself: out of memory, a native fault); not tried again"}
            self.ledger.start(index)
        return lift_one(self.lifter, input_path, output, self.options)


def _import_ray():
    try:
        import ray
        import ray.data
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise needs_extra("--ray", "ray", "ray") from None
    return ray


def run_ray(spec: ModelSpec, jobs: list[Job], options: LiftOptions, emit: Callable[[dict], None],
            workers: int | None = None, threads_per_worker: int = 1, worker: type = LiftWorker,
            ledger: str | Path | None = None) -> None:
    """Lift `jobs` on the Ray cluster this process is connected to (ray.init first): a dataset of jobs,
    map_batches on a fixed pool of `workers` actors (None: the cluster's CPUs // threads_per_worker), each
    reserving threads_per_worker CPUs and running its model with that many threads, a block per batch;
    emit(row) as rows come back (each input once, also when a killed actor's task is retried). ledger: a
    folder for DeathLedger (an input that kills its worker MAX_DEATHS times becomes an error row)."""
    ray = _import_ray()
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is None:
        workers = max(1, cpus // threads_per_worker)
    if threads_per_worker > cpus:                 # no actor could ever start: Ray would wait forever
        raise Vp3dError(f"--threads-per-worker {threads_per_worker}: the Ray cluster has {cpus} CPUs")
    if not jobs:
        return
    blocks = min(len(jobs), max(4 * workers, math.ceil(len(jobs) / FILES_PER_BLOCK)))
    # absolute paths for the workers (a cluster's workers run elsewhere); the rows name them as given
    spec = dataclasses.replace(spec, path=os.path.abspath(spec.path))
    items = [{"index": j.index, "input": os.path.abspath(j.input), "output": os.path.abspath(j.output)} for j in jobs]
    given = {j.index: j for j in jobs}
    ds = ray.data.from_items(items, override_num_blocks=blocks)
    lifted = ds.map_batches(worker, fn_constructor_args=(spec, options, threads_per_worker,
                                                       None if ledger is None else os.path.abspath(ledger)),
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads_per_worker,
                            batch_size=FILES_PER_BLOCK, batch_format="numpy")
    seen = set()
    for batch in lifted.iter_batches(batch_size=None, batch_format="numpy"):
        for index, row in zip(batch["index"], batch["row"]):
            if int(index) not in seen:
                seen.add(int(index))
                job, row = given[int(index)], json.loads(str(row))
                if "error" in row:                      # the message names the input as given, as the row does
                    row["error"] = row["error"].replace(os.path.abspath(job.input), job.input)
                row.update(input=job.input, outputs=[job.output] if row["outputs"] else [])
                emit(row | {"index": job.index})


# joins `address` as vp3d's driver would, then leaves: run in a child that can be killed (ray.init cannot be)
_PREFLIGHT = ("import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False); "
              "ray.shutdown()")


def reach(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Vp3dError (one line) where the Ray cluster at `address` (HOST:PORT, ray://HOST:PORT, or 'auto': what Ray
    itself would join, from RAY_ADDRESS or the address file a 'ray start' left) cannot be joined within
    `timeout` seconds: ray.init retries a dead or wrong address for minutes and no signal ends it. A refused
    connection is told at once; otherwise a child process joins and leaves first, killed at the deadline."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
            target = canonicalize_bootstrap_address("auto")
        except ConnectionError as e:
            raise Vp3dError(f"--ray auto: no running Ray cluster found ({first_line(e)}); start one (ray start "
                            f"--head), or give --ray without an address for a local one") from None
        except Exception:                  # Ray's own look-up moved: the child below still bounds the wait
            target = None
    if target is not None:
        host, _, port = target.removeprefix("ray://").rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                pass
        except (OSError, ValueError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else (getattr(e, "strerror", None) or first_line(e))
            raise Vp3dError(f"--ray {address}: no Ray cluster at {target} ({reason}); start it, or give --ray "
                            f"without an address for a local one") from None
    try:
        child = subprocess.run([sys.executable, "-c", _PREFLIGHT, address], capture_output=True, text=True,
                               timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Vp3dError(f"--ray {address}: the Ray cluster{f' at {target}' if target else ''} did not answer "
                        f"within {timeout:g} s (--ray-timeout)") from None
    if child.returncode != 0:
        said = [line for line in child.stderr.splitlines() if line.strip()]
        raise Vp3dError(f"--ray {address}: cannot join the Ray cluster ({said[-1].strip() if said else child.returncode})")


class ray_cluster:
    """Context: connected to Ray at `address` ('auto': the running cluster; LOCAL/None: start a private local
    one of num_cpus CPUs, whatever RAY_ADDRESS or an earlier cluster's address file says), shut down after; an
    existing connection (ray.init called before) is used as is. A given address that does not answer is one
    line within `timeout` seconds (reach). Ctrl-C and SIGTERM still end the run (cli.run's handlers: ray.init
    sets its own SIGTERM handler, which is put back)."""

    def __init__(self, address: str | None = LOCAL, num_cpus: int | None = None, timeout: float = RAY_CONNECT_TIMEOUT):
        self.address, self.num_cpus, self.timeout, self.started = address, num_cpus, timeout, False

    @property
    def local(self) -> bool:
        return self.address in (None, LOCAL)

    def __enter__(self):
        ray = _import_ray()
        if not ray.is_initialized():
            if not self.local:
                reach(self.address, self.timeout)
            handler = signal.getsignal(signal.SIGTERM)
            try:
                ray.init(address=LOCAL if self.local else self.address, num_cpus=self.num_cpus if self.local else None,
                         include_dashboard=False if self.local else None, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise Vp3dError(f"--ray {self.address}: cannot start or reach a Ray cluster ({first_line(e)}); 'auto' "
                                f"needs a running one (ray start --head)") from None
            finally:
                if callable(handler) and threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, handler)
            self.started = True
        return ray

    def __exit__(self, *exc):
        if self.started:
            _import_ray().shutdown()


def lift_corpus(jobs: list[Job], out_dir: str | Path, spec: ModelSpec, options: LiftOptions,
                resume: bool = False, ray: str | None = None, workers: int | None = None,
                threads_per_worker: int = 1, on_row: Callable[[dict], None] | None = None,
                progress: bool | None = None, worker: type = LiftWorker,
                ray_timeout: float = RAY_CONNECT_TIMEOUT) -> Summary:
    """Lift every job, in process (ray None) or on Ray (ray: an address, LOCAL for a private local cluster;
    ray_timeout: seconds to join a given one), writing out_dir/REPORT as inputs finish; resume: skip what an
    earlier run finished (done_before). The model loads (and for videos, options.detector is opened and its
    keypoint order checked against the model's) and the cluster is joined first (a bad model or an unreachable
    cluster is a Vp3dError before anything is written; on Ray each actor loads its own model and detector).
    on_row(row) for each newly finished input. -> Summary, rows in input order."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise Vp3dError(f"{out_dir}: exists and is not a folder")
    cpus = os.cpu_count() or 1
    if ray == LOCAL and (workers or 1) * threads_per_worker > cpus:     # a local cluster has this machine's CPUs
        raise Vp3dError(f"--workers {workers or 1} x --threads-per-worker {threads_per_worker}: a local Ray cluster "
                        f"has this machine's {cpus} CPUs")
    lifter = spec.load(threads_per_worker if ray else None)
    videos = [j for j in jobs if is_video(j.input)]
    if videos:                        # the detector's files and keypoint order, before any work
        if options.detector is None:
            raise Vp3dError(f"{videos[0].input}: a video; give the 2D detector that runs on it (options.detector)")
        check_detector_layout(opened(options.detector), lifter.layout.name, videos[0].input)
    report, ledger = out_dir / REPORT, out_dir / LEDGER
    rows: dict[int, dict] = {}

    def emit(row: dict) -> None:
        index = row.pop("index")
        rows[index] = row
        writer.write(row)
        if on_row is not None:
            on_row(row)

    names = {Path(j.output).name for j in jobs} | {corpus_keypoints_path(j.input, j.output).name for j in videos}
    with contextlib.ExitStack() as stack:
        stack.callback(remove_temporaries, out_dir, names)     # after the cluster is gone: what its workers left
        if ray is not None:
            del lifter
            stack.enter_context(ray_cluster(ray, timeout=ray_timeout))
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_temporaries(out_dir, names)                      # an earlier run's, killed while writing
        done = done_before(jobs, report) if resume else {}
        todo = [j for j in jobs if j.index not in done]
        writer = stack.enter_context(contextlib.closing(ReportWriter(report, [done[j.index] for j in jobs
                                                                              if j.index in done])))
        if ray is None:
            run_local(lifter, todo, options, emit, progress)
        else:
            shutil.rmtree(ledger, ignore_errors=True)
            ledger.mkdir()
            stack.callback(shutil.rmtree, ledger, ignore_errors=True)
            try:
                run_ray(spec, todo, options, emit, workers, threads_per_worker, worker, ledger)
            except Vp3dError:
                raise
            except Exception as e:        # Ray's own failures (a cluster lost): one line
                raise Vp3dError(f"the Ray run stopped ({type(e).__name__}: {first_line(e)}); {report} keeps every "
                                f"input that finished: run again with --resume") from e
    missing = [j.input for j in todo if j.index not in rows]
    if missing:
        raise Vp3dError(f"{len(missing)} inputs came back without a report line (first {missing[0]}); "
                        f"run again with --resume")
    all_rows = [done.get(j.index) or rows[j.index] for j in jobs]
    return Summary(all_rows, len(done), report, time.perf_counter() - start)


def describe(summary: Summary) -> str:
    """One line: inputs lifted, frames, fragments dropped, time, the report."""
    ok = [r for r in summary.rows if r["status"] == "ok"]
    frames = sum(r["frames"] for r in ok)
    dropped = sum(r.get("dropped", 0) for r in ok)       # reports written before rows counted them: none
    resumed = f" ({summary.resumed} done before)" if summary.resumed else ""
    fragments = f", {dropped} fragment{'s' * (dropped != 1)} dropped (--min-frames 1 keeps them)" if dropped else ""
    return (f"lifted {len(ok)} of {len(summary.rows)} inputs{resumed}, {frames} frames{fragments}, in "
            f"{summary.seconds:.1f} s; report {summary.report}")


def print_row(row: dict) -> None:
    """A failed input's line on stderr as it happens (the report keeps it too)."""
    if row["status"] != "ok":
        print(f"error: {row['error']}", file=sys.stderr, flush=True)
