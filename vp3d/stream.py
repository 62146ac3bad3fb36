"""Live lifting: one frame of 2D keypoints in, the poses that became final out, state cached per track.

    stream = vp3d.load_model("model.bin").stream(image_size=(1920, 1080))
    for kps in detector:                      # (J, 2) pixels, the model's keypoint layout
        for frame, pose in stream.push(kps):  # pose (17, 3) float32, metres, camera frame
            ...
    rest = stream.flush()                     # the last frames, the final frame repeated after them

The poses equal Lifter.lift() of the whole sequence (pipeline.stream: the same edge padding, flip
augmentation and trajectory). A symmetric model answers frame t on the push of frame t + lag, lag =
(RF - 1) / 2 (121 frames for RF 243); `lookahead=N` answers after N frames instead, the unseen rest of
the window filled with the newest frame (less accurate: docs/streaming.md). `fps`: the keypoints' rate; at
another rate than the model's they are resampled to it as they arrive and each frame's pose is taken back,
as lift(fps=...) does (pipeline.stream.ResampledStream; lag counts input frames). A causal model answers each
frame on its own push (lag 0). Several people: push(kps, track=id), or push({id: kps, ...}) to run all
as one batch; each track keeps its own state. `engine` runs the matrix products (engines.stream_layers.ENGINES;
default: default_engine()). `json_lines` serves vp3d_lift.py --stream.
"""
from __future__ import annotations

import json
import sys
from collections import deque
from typing import BinaryIO, Hashable, Iterable, Iterator, TextIO

import numpy as np

from vp3d.errors import Vp3dError, first_line
from vp3d.facts.limits import MAX_LINE_BYTES, SPAN_PER_FRAME, TRACK_STATE_BYTES
from vp3d.io.files import loads_json
from vp3d.facts.cameras import check_image_size, check_within_image, normalize_screen_coordinates
from vp3d.engines.stream_layers import default_engine
from vp3d.model.folded import FoldedModel
from vp3d.pipeline.stream import PoseStream, ResampledStream

DEFAULT_TRACK = None


class Stream:
    """A live stream of one model; see the module docstring. Made by Lifter.stream()."""

    def __init__(self, lifter, pose: FoldedModel, trajectory: FoldedModel | None,
                 image_size: tuple[int, int] | None = None, lookahead: int | None = None, normalized: bool = False,
                 engine: str | None = None, threads: int | None = None, fps: float | None = None):
        if not normalized and image_size is None:
            raise Vp3dError("a stream of pixel keypoints needs image_size=(width, height); or pass normalized=True")
        self.image_size = None if normalized else check_image_size(image_size)
        self.joints = len(lifter.layout.names)
        self.engine = engine = default_engine() if engine in (None, "auto") else engine
        self.description = f"{engine} stream engine, weights {pose.description}" + \
            (", with trajectory model" if trajectory is not None else "")
        try:
            self.core = PoseStream(pose, trajectory, lifter.layout.symmetry, lifter.joint_symmetry, lookahead,
                                   engine, threads)
        except ValueError as e:
            raise Vp3dError(str(e)) from None
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise Vp3dError(f"fps must be a positive frame rate, got {fps}")
        self.fps = lifter.fps if fps is None else float(fps)
        if lifter.fps / self.fps > SPAN_PER_FRAME:  # each frame pushed would feed the model that many
            raise Vp3dError(f"fps {self.fps:g}: each frame would make {lifter.fps / self.fps:.4g} frames at the model's "
                            f"{lifter.fps:g} fps, more than {SPAN_PER_FRAME}; is it the keypoints' frame rate?")
        if self.fps != lifter.fps:                 # resampled to the model's rate and back, as lift() does
            self.core = ResampledStream(self.core, self.fps, lifter.fps)
            self.description += f", {self.fps:g} fps resampled to the model's {lifter.fps:g}"

    @property
    def lag(self) -> int:
        """Frames between pushing a frame and getting its pose, at most (0 for causal models at the model's
        rate; at another rate, the resampling's wait besides)."""
        return self.core.lag

    @property
    def receptive_field(self) -> int:
        return self.core.receptive_field

    @property
    def tracks(self) -> list:
        """The tracks with state (pushed and not flushed)."""
        return list(self.core.slots)

    def state_bytes(self) -> int:
        """Bytes of cached state per track."""
        return self.core.state_bytes()

    def _frame(self, keypoints, track) -> np.ndarray:
        """(J, 2) pixels -> normalised float32; Vp3dError on a wrong shape or non-finite values."""
        kps = np.asarray(keypoints, dtype=np.float64) if not isinstance(keypoints, np.ndarray) else keypoints
        where = "keypoints" if track is DEFAULT_TRACK else f"track {track!r}: keypoints"
        if kps.shape != (self.joints, 2) or not np.issubdtype(kps.dtype, np.number):
            raise Vp3dError(f"{where} of shape {kps.shape}: expected ({self.joints}, 2) for one frame")
        if not np.isfinite(kps).all():
            raise Vp3dError(f"{where}: non-finite values")
        if self.image_size is not None:
            check_within_image(kps, self.image_size, where)
        kps = kps.astype(np.float32)
        return kps if self.image_size is None else normalize_screen_coordinates(kps, *self.image_size)

    def push(self, keypoints, track: Hashable = DEFAULT_TRACK):
        """The next frame of `track`: (J, 2) pixel keypoints -> [(frame, (17, 3) pose)] that became final,
        frames counted from the track's first push. Or {track: (J, 2)} -> {track: [(frame, pose)]}, all the
        tracks run as one batch."""
        if isinstance(keypoints, dict):
            return self.core.push({t: self._frame(k, t) for t, k in keypoints.items()})
        return self.core.push({track: self._frame(keypoints, track)})[track]

    def flush(self, track: Hashable = DEFAULT_TRACK) -> list[tuple[int, np.ndarray]]:
        """End `track`: [(frame, pose)] for its frames not yet returned; its state is dropped."""
        return self.core.flush([track]).get(track, [])

    def flush_all(self) -> dict[Hashable, list[tuple[int, np.ndarray]]]:
        """End every track: {track: [(frame, pose)]}."""
        return self.core.flush()


def parse_line(line: bytes | str, joints: int) -> dict:
    """One JSON line -> {track: (frame, (J, 2) pixels), ...}: either
    {"frame": i, "keypoints": [[x, y], ...], "track": id (optional)} or an MMPose per-frame entry
    {"frame_id": i, "instances": [{"keypoints": ..., "track_id": id (optional), "bbox_score": s}]}
    (instances without a track_id: the best-scored one, as offline lifting picks). ValueError says what is
    wrong, whatever it is (JSON nested beyond facts.limits.JSON_DEPTH among it)."""
    try:
        obj = loads_json(line)
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "instances" in obj:
        frame = obj.get("frame_id", obj.get("frame"))
        instances = obj["instances"]
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise ValueError("'instances' must be a list of objects")
        tracked = [i for i in instances if i.get("track_id") is not None]
        if not tracked and instances:
            tracked = [dict(max(instances, key=_score), track_id=DEFAULT_TRACK)]
        entries = [(i.get("track_id"), i.get("keypoints"), frame) for i in tracked]
    else:
        entries = [(obj.get("track", DEFAULT_TRACK), obj.get("keypoints"), obj.get("frame"))]
    out = {}
    for track, kps, frame in entries:
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise ValueError(f"frame {frame!r}: expected an integer frame number")
        if isinstance(track, (list, dict)):
            raise ValueError(f"track {track!r}: expected a string or a number")
        if track in out:
            raise ValueError(f"track {track!r} twice in one frame")
        try:
            arr = np.asarray(kps, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("'keypoints' must be [[x, y], ...]") from None
        if arr.ndim != 2 or arr.shape[1] not in (2, 3) or arr.shape[0] != joints:
            raise ValueError(f"'keypoints' of shape {arr.shape}: expected ({joints}, 2) [[x, y], ...]")
        if not np.isfinite(arr[:, :2]).all():
            raise ValueError("'keypoints' has non-finite values")
        out[track] = (frame, arr[:, :2])
    return out


def _score(instance: dict) -> float:
    """An MMPose instance's score: its bbox_score, else its mean keypoint score, else 0; ValueError if not numbers."""
    box = instance.get("bbox_score")
    box = box[0] if isinstance(box, list) and box else box
    s = instance.get("keypoint_scores")
    try:
        return float(box) if isinstance(box, (int, float)) else (float(np.mean(np.asarray(s, np.float64))) if s else 0.0)
    except (TypeError, ValueError):
        raise ValueError("'keypoint_scores' must be numbers") from None


def read_lines(source: BinaryIO | Iterable, max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes | str | None]:
    """The lines of `source`, each as read (None for one longer than max_bytes: what was read of it is dropped,
    the rest skipped up to its newline). A binary file is read max_bytes + 1 at a time, so a line without end
    never fills memory; any other iterable's lines (str or bytes) are checked as they come."""
    if not hasattr(source, "readline") or not isinstance(source.readline(0), bytes):
        for line in source:
            yield None if len(line) > max_bytes + 1 else line
        return
    while line := source.readline(max_bytes + 1):
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line
            continue
        while (rest := source.readline(1 << 16)) and not rest.endswith(b"\n"):
            pass
        yield None


def default_max_tracks(stream: Stream) -> int:
    """The live tracks whose state fits in facts.limits.TRACK_STATE_BYTES (at least 1)."""
    return max(1, TRACK_STATE_BYTES // max(stream.state_bytes(), 1))


def json_lines(stream: Stream, lines: BinaryIO | Iterable, out: TextIO, on_error: str = "skip",
               track_timeout: int | None = None, err: TextIO = sys.stderr, max_line_bytes: int = MAX_LINE_BYTES,
               max_tracks: int | None = None) -> int:
    """Serve a pipe: JSON lines in (parse_line; a binary file read in bounded pieces, read_lines), one line per
    final pose out ({"frame": i, "pose": [[x, y, z], ...]}, "track" where the input named one), flushed per
    line; every track flushed at the end of input. A track absent for `track_timeout` input lines is flushed
    and forgotten. At most max_tracks tracks live at once (None: default_max_tracks): a line that brings more
    ends the least recently seen ones first (flushed: their poses written; one stderr line each). Bad lines of
    any kind (not JSON, nested too deep, longer than max_line_bytes, the wrong shape, far outside the image,
    naming more tracks than max_tracks) get one stderr line naming the line number and are skipped
    (on_error 'skip') or end the stream with Vp3dError ('stop'). Returns the number of bad lines."""
    max_tracks = default_max_tracks(stream) if max_tracks is None else max_tracks
    frames: dict[Hashable, deque] = {}              # track -> frame ids pushed, not yet answered
    answered: dict[Hashable, int] = {}               # track -> frames answered (index of frames[track][0])
    seen: dict[Hashable, int] = {}                   # track -> the line number it last appeared on (oldest first)
    bad = 0

    def write(results: dict) -> None:
        for track, pairs in results.items():
            ids = frames[track]
            for frame, pose in pairs:
                while answered[track] < frame:                     # never skipped: poses come in order
                    ids.popleft()
                    answered[track] += 1
                obj = {"frame": ids.popleft()}
                answered[track] += 1
                if track is not DEFAULT_TRACK:
                    obj["track"] = track
                obj["pose"] = np.round(pose.astype(np.float64), 7).tolist()
                out.write(json.dumps(obj) + "\n")
        out.flush()

    def end(tracks: list) -> None:
        write(stream.core.flush(tracks))
        for t in tracks:
            for d in (frames, answered, seen):
                d.pop(t, None)

    def parse(line) -> dict:
        if line is None:
            raise ValueError(f"longer than {max_line_bytes} bytes (--max-line-bytes)")
        entries = parse_line(line, stream.joints)
        if len(entries) > max_tracks:
            raise ValueError(f"{len(entries)} tracks in one line, more than --max-tracks {max_tracks}")
        return entries

    number = 0
    for number, line in enumerate(read_lines(lines, max_line_bytes), 1):
        if line is not None and not line.strip():
            continue
        try:
            entries = parse(line)
            batch = {t: stream._frame(kps, t) for t, (_, kps) in entries.items()}
        except Exception as e:                    # whatever a line holds, it is that line's error
            bad += 1
            reason = first_line(e) if isinstance(e, (ValueError, Vp3dError)) else f"{type(e).__name__}: {first_line(e)}"
            message = f"line {number}: {reason}"
            if on_error == "stop":
                end(list(stream.core.slots))
                raise Vp3dError(f"stdin {message}") from None
            print(f"error: stdin {message} (skipped)", file=err, flush=True)
            continue
        new = [t for t in entries if t not in seen]
        if len(seen) + len(new) > max_tracks:     # make room: end the least recently seen tracks not in this line
            room = len(seen) + len(new) - max_tracks
            oldest = [t for t in seen if t not in entries][:room]
            for t in oldest:
                print(f"[INFO] stdin line {number}: {max_tracks} live tracks (--max-tracks); ended track {t!r}, "
                      f"last seen on line {seen[t]}", file=err, flush=True)
            end(oldest)
        for t, (frame, _) in entries.items():
            frames.setdefault(t, deque()).append(frame)
            answered.setdefault(t, 0)
            seen.pop(t, None)
            seen[t] = number                      # re-inserted: seen stays ordered by last appearance
        results = stream.core.push(batch)
        write(results)
        if track_timeout is not None:
            stale = [t for t, last in seen.items() if number - last >= track_timeout]
            if stale:
                end(stale)
    end(list(stream.core.slots))
    return bad
