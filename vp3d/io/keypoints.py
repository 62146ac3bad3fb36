"""Reading users' 2D keypoint files: one reader per format, each returning the same KeypointSequence value.

    format          file                                   what it holds
    upstream-npz    data_2d_custom_<name>.npz              positions_2d[video]['custom'][0] (T, J, 2) pixels;
                                                           metadata: layout_name, keypoints_symmetry,
                                                           video_metadata[video] {'w', 'h'}; every video
    arrays-npz      any other .npz (np.savez)              one (T, J, 2) pixel array per video, keyed by its
                                                           name; a frame with a non-finite value is a frame
                                                           without a detection
    mmpose-json     MMPose's saved predictions (.json)     {"meta_info": ..., "instance_info": [{"frame_id",
                                                           "instances": [{"keypoints": [[x, y], ...],
                                                           "keypoint_scores", "bbox", "bbox_score"}]}]}
                                                           or the bare instance_info list
    coco-json       COCO keypoint results (.json)          [{"image_id", "category_id", "keypoints":
                                                           [x, y, v, ...], "score"}]
    csv             .csv with a header                     frame,joint,x,y[,score][,track]; joint an index
                                                           or a keypoint name (COCO or Human3.6M)
    detectron-npz   upstream's infer_video_d2.py output    boxes[i][1] (N, 5), keypoints[i][1] (N, 4, 17) per
                    (<video>.npz, or a folder of them)     video frame i, metadata {'w', 'h'}; COCO-17; vp3d's
                    and vp3d's detector runs (io.detections) own add 'fps' and the video's name
    alphapose-json  AlphaPose results (.json)              [{"image_id": "0.jpg", "keypoints": [x, y, s] * 17
                                                           or * 26 (Halpe), "score", "idx"}]; COCO-17
    openpose-json   a folder of OpenPose --write_json      <name>_<frame>_keypoints.json: {"people":
                    files                                  [{"person_id", "pose_keypoints_2d"}]}; BODY_25 or
                                                           COCO-18 -> COCO-17 by name; c == 0 undetected

FORMATS is the table, keyed by what the file is (its suffix, then its content); adding a format adds one
reader and one row. The rules every reader follows are upstream's (data/prepare_data_2d_custom.py):
frame numbers (MMPose frame_id, integer COCO image_id, CSV frame) index the video, and a sequence spans
its first to its last detected frame; frames with no detection between them are filled by linear
interpolation per coordinate (the count is kept in `filled`); where a frame holds several people, the
highest-scored one is kept (MMPose bbox_score, else the mean keypoint score; COCO score), unless the
detections carry track ids ("track_id"; CSV column "track"): then each track is a sequence of its own,
named '<file stem>_track<id>'. Non-integer COCO image ids are ordered and taken as consecutive frames.
With people='all' an untracked file's detections are tracked across frames (io.tracking) and each person is
a sequence '<file stem>_person<k>' (k in order of first appearance) spanning its first to its last detection.
min_score makes keypoints (and detections) scored below it missing; a missing keypoint is filled by
interpolation over time from the frames where it is present. JSON and CSV carry no image size (image_size
None: the caller supplies it). Each sequence says the keypoint order its file declares (`layout`): COCO results are COCO-17 by definition, MMPose's predictions too unless
their meta_info names another dataset, upstream's npz and CSV joint names say theirs; lifting refuses a model
of another order. A video given here is refused with what to do first (run a 2D detector).
"""
from __future__ import annotations

import contextlib
import csv
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.limits import MAX_JSON_BYTES, MAX_KEYPOINTS, frame_limit
from vp3d.io.datasets import keypoint_symmetry
from vp3d.io.npz import load_npz_key, npz_names
from vp3d.io.files import read_json, refuse_empty
from vp3d.io.video import VIDEO_SUFFIXES
from vp3d.facts.skeleton import OPENPOSE_BODY_25, OPENPOSE_COCO_18, Symmetry, coco_from_openpose, keypoint_layouts


@dataclass
class KeypointSequence:
    """One person's 2D keypoints through one video, as a reader returns them."""

    name: str                                  # video name: the npz key, or file stem (+ '_track<id>')
    keypoints: np.ndarray                      # (T, J, 2) float32, pixels, gaps filled
    image_size: tuple[int, int] | None = None  # (w, h) pixels; None where the file does not say
    layout: str | None = None                  # keypoint layout the file declares ('coco', 'h36m'), or None
    symmetry: Symmetry | None = None           # left/right keypoints the file declares, or None
    scores: np.ndarray | None = None           # (T, J) keypoint confidences (0 in filled frames), or None
    filled: int = 0                            # frames with no detection, filled by interpolation
    filled_keypoints: int = 0                  # keypoints missing (undetected or below min_score) in frames
                                               # with a detection, filled by interpolation per keypoint
    first_frame: int = 0                       # the frame number of keypoints[0] in the file
    source: str = ""                           # the file it was read from
    detected: np.ndarray | None = None         # (T,) bool: frames with a detection (None: every frame)
    video: str = ""                            # the video it is a person of (tracks share it); "": its name
    fps: float | None = None                   # frame rate the file records (vp3d's detector runs), or None

    @property
    def frames(self) -> int:
        return self.keypoints.shape[0]

    @property
    def detected_frames(self) -> int:
        return self.frames - self.filled

    @property
    def video_key(self) -> tuple[str, str]:
        """(file, video): the sequences of one video share it."""
        return self.source, self.video or self.name

    @property
    def filled_frames(self) -> np.ndarray:
        """(T,) bool: the frames without a detection, filled by interpolation."""
        return np.zeros(self.frames, bool) if self.detected is None else ~self.detected

    @property
    def where(self) -> str:
        """How errors name it: "file: 'name'" (or the quoted name alone where it has no file)."""
        return f"{self.source}: {self.name!r}" if self.source else repr(self.name)


# ---------------------------------------------------------------------------------------------
# Shared rules: best detection per frame, tracks, interpolation
# ---------------------------------------------------------------------------------------------

def interpolate_missing(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T, ...) values with rows where present[t] is False replaced by linear interpolation over time,
    per coordinate, from the present rows (constant before the first and after the last), as upstream's
    prepare_data_2d_custom.py fills frames without a detection. present (T,), or (T, J) for (T, J, 2)
    values: then each keypoint is filled from the frames where it is present (NaN where it is in none).
    float64 inside; returns values' dtype."""
    if present.all():
        return values
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1).astype(np.float64)
    mask = present.reshape(len(values), -1)
    mask = np.repeat(mask, flat.shape[1] // mask.shape[1], axis=1)     # per keypoint -> per coordinate
    out = np.empty_like(flat)
    for c in range(flat.shape[1]):          # one np.interp per coordinate column (J * 2), not per frame
        out[:, c] = np.interp(t, t[mask[:, c]], flat[mask[:, c], c]) if mask[:, c].any() else np.nan
    return out.reshape(values.shape).astype(values.dtype)


def check_finite(path, keypoints: np.ndarray, frames: np.ndarray) -> None:
    """Vp3dError naming the file and frame number of the first non-finite keypoint coordinate."""
    bad = ~np.isfinite(keypoints)
    if bad.any():
        i = int(np.argwhere(bad)[0, 0])
        raise Vp3dError(f"{path}: non-finite keypoint coordinates at frame {frames[i]}")


PEOPLE = ("best", "all")   # which people a reader returns: upstream's best-scored per frame, or every one


@dataclass(frozen=True)
class ReadOptions:
    """What read_keypoints does with a file's detections (see assemble)."""

    people: str = "best"              # 'best': the highest-scored detection per frame; 'all': every person, tracked
    min_score: float | None = None    # keypoints (and detections) scored below this are missing
    max_frames: int | None = None     # frames a sequence may span (None: facts.limits.frame_limit's default)
    max_json_bytes: int = MAX_JSON_BYTES   # a JSON file's size, at most


def frame_numbers(path, values) -> np.ndarray:
    """Frame numbers (N,) as int64; Vp3dError naming the file where one is not a whole number in int64's range."""
    try:
        frames = np.asarray(values, dtype=np.int64)
    except (OverflowError, TypeError, ValueError):
        bad = next((v for v in values if not isinstance(v, (int, np.integer)) or not -2 ** 63 <= v < 2 ** 63), None)
        raise Vp3dError(f"{path}: frame number {bad!r} is not an integer of at most 19 digits") from None
    return frames


def check_span(path, name: str, frames: np.ndarray, listed: int, max_frames: int | None) -> None:
    """Vp3dError naming the frames where sorted unique frame numbers `frames` span more frames than
    facts.limits.frame_limit allows for a file that lists `listed` frames: before anything that size is made."""
    span = int(frames[-1]) - int(frames[0]) + 1
    limit = frame_limit(listed, max_frames)
    if span > limit:
        gap = int(np.argmax(np.diff(frames))) if len(frames) > 1 else 0
        raise Vp3dError(f"{path}: {name!r} has detections from frame {frames[0]} to {frames[-1]}, {span} frames to "
                        f"fill from the {listed} frames the file lists (the widest gap: frames {frames[gap]} to "
                        f"{frames[min(gap + 1, len(frames) - 1)]}); at most {limit} frames a sequence "
                        f"(--max-frames N allows N)")


def assemble(path: Path, stem: str, frames: np.ndarray, keypoints: np.ndarray, person_scores: np.ndarray,
             keypoint_scores: np.ndarray | None = None, tracks: np.ndarray | None = None,
             span: tuple[int, int] | None = None, visible: np.ndarray | None = None,
             options: ReadOptions = ReadOptions(), listed: int | None = None) -> list[KeypointSequence]:
    """Detections -> sequences. frames (N,) int frame numbers; keypoints (N, J, 2) pixels; person_scores (N,);
    keypoint_scores (N, J) or None; tracks (N,) track ids or None; visible (N, J) bool: keypoints the
    detector found (None: all). options.min_score drops detections scored below it and marks keypoints
    scored below it missing. Per track (the file's, or with options.people 'all' those track_people finds,
    named '<stem>_person<k>'; without either, one sequence of the best-scored detection per frame) the
    frames from the first to the last detection (or `span` (start, stop), the frames the file lists, for
    one untracked sequence) without a detection are filled by interpolation, and so are missing keypoints,
    each from the frames where it is present. listed: the frames the file lists (None: those with a
    detection); a sequence may span facts.limits.frame_limit(listed, options.max_frames) frames (check_span)."""
    if len(frames) == 0:
        raise Vp3dError(f"{path}: no detections in the file")
    frames = frame_numbers(path, frames)
    if listed is None:
        listed = len(np.unique(frames))
    check_finite(path, keypoints, frames)
    visible = np.ones(keypoints.shape[:2], bool) if visible is None else visible.astype(bool)
    keep = visible.any(axis=1)
    if options.min_score is not None:
        keep &= person_scores >= options.min_score
        if keypoint_scores is not None:
            visible = visible & (keypoint_scores >= options.min_score)
            keep &= visible.any(axis=1)
    if not keep.all():
        if not keep.any():
            raise Vp3dError(f"{path}: no detection with a keypoint scored {options.min_score} or more"
                            if options.min_score is not None else f"{path}: no detected keypoints in the file")
        frames, keypoints, person_scores, visible = frames[keep], keypoints[keep], person_scores[keep], visible[keep]
        keypoint_scores = keypoint_scores[keep] if keypoint_scores is not None else None
        tracks = tracks[keep] if tracks is not None else None
    label = "track"
    if tracks is None and options.people == "all":
        from vp3d.io.tracking import track_people
        tracks, label = track_people(frames, keypoints, visible), "person"
    out = []
    groups = [(None, np.arange(len(frames)))] if tracks is None else \
        [(t, np.flatnonzero(tracks == t)) for t in (sorted(set(tracks.tolist())) if label == "person"
                                                     else dict.fromkeys(tracks.tolist()))]
    for track, rows in groups:
        f = frames[rows]
        order = np.lexsort((np.arange(len(rows)), -person_scores[rows], f))   # by frame, best score first
        first = np.ones(len(order), bool)
        first[1:] = f[order][1:] != f[order][:-1]
        best = rows[order[first]]                                            # one detection per frame
        ends = frames[best][[0, -1]]
        if span is not None and tracks is None:
            ends = np.array([min(int(ends[0]), span[0]), max(int(ends[1]), span[1] - 1)])
        name = stem if track is None else f"{stem}_{label}{track}"
        check_span(path, name, np.unique(np.concatenate([frames[best], ends])), listed, options.max_frames)
        start, stop = int(ends[0]), int(ends[1]) + 1
        index = frames[best] - start
        present = np.zeros((stop - start, keypoints.shape[1]), bool)         # per frame and keypoint
        present[index] = visible[best]
        kps = np.zeros((stop - start,) + keypoints.shape[1:], np.float32)
        kps[index] = keypoints[best]
        scores = None
        if keypoint_scores is not None:
            scores = np.zeros((stop - start, keypoints.shape[1]), np.float32)
            scores[index] = keypoint_scores[best]
        detected = np.zeros(stop - start, bool)
        detected[index] = True
        out.append(KeypointSequence(name, interpolate_missing(kps, present), scores=scores,
                                    filled=int((~detected).sum()),
                                    filled_keypoints=int((detected[:, None] & ~present).sum()),
                                    first_frame=start, source=str(path), detected=detected, video=stem))
    return out


def _keypoint_array(path, rows: list, width: tuple[int, ...] | None, what: str) -> np.ndarray:
    """A list of per-detection keypoint lists -> float array; Vp3dError when ragged or malformed. Flat lists of
    numbers of one length (COCO, AlphaPose) are read as one stream (np.fromiter: 1.5x np.asarray's speed)."""
    try:
        n = len(rows[0]) if rows and isinstance(rows[0], list) else 0
        if n and all(type(r) is list and len(r) == n for r in rows):
            with contextlib.suppress(TypeError, ValueError):            # not flat: np.asarray below
                return _checked(path, np.fromiter(itertools.chain.from_iterable(rows), np.float64,
                                                  n * len(rows)).reshape(len(rows), n), width, what)
        a = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError):
        raise Vp3dError(f"{path}: {what} must be lists of numbers of the same length in every detection") from None
    return _checked(path, a, width, what)


def _checked(path, a: np.ndarray, width: tuple[int, ...] | None, what: str) -> np.ndarray:
    if a.ndim < 2 or (width and a.shape[-1] not in width) or 0 in a.shape:
        raise Vp3dError(f"{path}: {what} of shape {a.shape[1:]} per detection, expected {what}")
    return a


# ---------------------------------------------------------------------------------------------
# Readers: (path, loaded content) -> [KeypointSequence]
# ---------------------------------------------------------------------------------------------

def read_upstream_npz(path: Path, _content=None, _options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """upstream's data_2d_custom_<name>.npz: every video in it, with its image size and declared layout."""
    metadata = load_npz_key(path, "metadata")
    positions = load_npz_key(path, "positions_2d")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("video_metadata"), dict):
        raise Vp3dError(f"{path}: 'metadata' must be a dict with 'video_metadata' {{video: {{'w', 'h'}}}} "
                        f"(upstream's in-the-wild format)")
    if not isinstance(positions, dict) or not positions:
        raise Vp3dError(f"{path}: 'positions_2d' must be a dict video -> {{'custom': [(T, J, 2) array]}}")
    symmetry = keypoint_symmetry(metadata, path) if "keypoints_symmetry" in metadata else None
    layout = metadata.get("layout_name")
    out = []
    for video, actions in positions.items():
        try:
            kps = actions["custom"][0]
        except (TypeError, KeyError, IndexError):
            raise Vp3dError(f"{path}: video {video!r} has no positions_2d[video]['custom'][0] array") from None
        if not isinstance(kps, np.ndarray) or kps.ndim != 3 or kps.shape[2] < 2 or kps.shape[0] < 1 \
                or not np.issubdtype(kps.dtype, np.number):
            raise Vp3dError(f"{path}: video {video!r} has keypoints of shape {getattr(kps, 'shape', None)}, "
                            f"expected (T, J, 2) pixels")
        kps = kps[..., :2].astype(np.float32)
        check_finite(path, kps, np.arange(len(kps)))
        res = metadata["video_metadata"].get(video)
        try:
            size = (int(res["w"]), int(res["h"]))
        except (TypeError, KeyError, ValueError):
            raise Vp3dError(f"{path}: metadata['video_metadata'] has no {{'w', 'h'}} for video {video!r}") from None
        out.append(KeypointSequence(str(video), kps, size, layout, symmetry, source=str(path)))
    return out


def _is_upstream_npz(names: list[str]) -> bool:
    return "positions_2d" in names or "metadata" in names


def read_arrays_npz(path: Path, names: list[str], _options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """An .npz of (T, J, 2) pixel arrays, one per video keyed by its name (np.savez(path, clip=kps)). Frames
    holding a non-finite value have no detection: filled by interpolation from the others (the array keeps
    its length, so frame t stays frame t)."""
    if not names:
        raise Vp3dError(f"{path}: no arrays in the file; expected (T, J, 2) pixel keypoints keyed by video name")
    out = []
    for name in names:
        kps = load_npz_key(path, name)
        if not isinstance(kps, np.ndarray) or kps.ndim != 3 or kps.shape[2] != 2 or 0 in kps.shape[:2] \
                or not np.issubdtype(kps.dtype, np.number):
            raise Vp3dError(f"{path}: '{name}' has shape {getattr(kps, 'shape', None)}, expected (T, J, 2) "
                            f"pixel keypoints")
        kps = kps.astype(np.float32)
        present = np.isfinite(kps).all(axis=(1, 2))
        if not present.any():
            raise Vp3dError(f"{path}: '{name}' has no frame with finite keypoints")
        kps[~present] = 0.0
        out.append(KeypointSequence(name, interpolate_missing(kps, present), filled=int((~present).sum()),
                                    source=str(path), detected=present))
    return out


def _mmpose_frames(content) -> list | None:
    """The instance_info list of MMPose's saved predictions (dict or bare list), or None if it is not one."""
    if isinstance(content, dict) and "instance_info" in content:
        content = content["instance_info"]
    if isinstance(content, list) and content and all(isinstance(e, dict) and "instances" in e for e in content):
        return content
    return None


def read_mmpose_json(path: Path, content, options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """MMPose's saved predictions: per frame_id, instances with keypoints, keypoint_scores, bbox_score."""
    entries = _mmpose_frames(content)
    frames, kps, person, kp_scores, tracks = [], [], [], [], []
    try:
        for i, entry in enumerate(entries):
            frame = entry.get("frame_id", i)
            if isinstance(frame, bool) or not isinstance(frame, int):
                raise Vp3dError(f"{path}: instance_info[{i}] has frame_id {frame!r}, expected an integer")
            for inst in entry["instances"]:
                k = inst["keypoints"]
                s = inst.get("keypoint_scores")
                frames.append(frame)
                kps.append(k)
                kp_scores.append(s)
                box = inst.get("bbox_score")
                box = box[0] if isinstance(box, list) and box else box
                person.append(float(box) if box is not None else (float(np.mean(s)) if s else 0.0))
                tracks.append(inst.get("track_id"))
    except Vp3dError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise Vp3dError(f"{path}: MMPose predictions must have instances with 'keypoints' [[x, y], ...] "
                        f"({type(e).__name__}: {e})") from None
    if not frames:
        raise Vp3dError(f"{path}: no detections in the file")
    kp = _keypoint_array(path, kps, (2, 3), "'keypoints' ([[x, y], ...] per instance)")[..., :2]
    scores = None
    if all(s is not None for s in kp_scores):
        scores = _keypoint_array(path, kp_scores, kp.shape[1:2], "'keypoint_scores' (one per keypoint)")
    ids = np.unique(frame_numbers(path, [e.get("frame_id", i) for i, e in enumerate(entries)]))   # listed frames
    seqs = assemble(path, path.stem, np.asarray(frames), kp.astype(np.float32), np.asarray(person), scores,
                    _tracks(path, tracks), span=(int(ids[0]), int(ids[-1]) + 1), options=options, listed=len(ids))
    meta = content.get("meta_info") if isinstance(content, dict) else None
    dataset = str(meta.get("dataset_name", "")).lower() if isinstance(meta, dict) else ""
    for seq in seqs:                  # a model trained on Human3.6M's order says so; else COCO (the table's)
        seq.layout = dataset if dataset in keypoint_layouts() else None
    return seqs


def _is_coco_results(content) -> bool:
    return isinstance(content, list) and bool(content) and all(
        isinstance(e, dict) and "image_id" in e and "keypoints" in e for e in content)


def read_coco_json(path: Path, content, options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """COCO keypoint results: one detection per entry, frames by image_id, the best score per frame."""
    try:
        ids = [e["image_id"] for e in content]
        kps = [e["keypoints"] for e in content]
        person = np.asarray([float(e.get("score", 0.0)) for e in content])
        tracks = [e.get("track_id") for e in content]
    except (TypeError, ValueError) as e:
        raise Vp3dError(f"{path}: COCO results need 'image_id', 'keypoints' [x, y, v, ...] and a numeric "
                        f"'score' ({e})") from None
    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        frames = np.asarray(ids)
    else:                                   # file names or other ids: ordered, consecutive frames
        try:
            order = sorted(set(ids))
        except TypeError:
            raise Vp3dError(f"{path}: 'image_id' values must be all integers or all strings") from None
        rank = {v: n for n, v in enumerate(order)}
        frames = np.asarray([rank[i] for i in ids])
    flat = _keypoint_array(path, kps, None, "'keypoints' (x, y, v triples)")
    if flat.ndim != 2 or flat.shape[1] % 3:
        raise Vp3dError(f"{path}: 'keypoints' hold {flat.shape[1:]} values, expected x, y, v triples")
    triples = flat.reshape(len(kps), -1, 3)
    return assemble(path, path.stem, frames, triples[..., :2].astype(np.float32), person,
                    triples[..., 2].astype(np.float32), _tracks(path, tracks), options=options)


def _tracks(path: Path, tracks: list) -> np.ndarray | None:
    """Track ids of the detections, or None where none has one; Vp3dError where only some have one."""
    have = [t is not None for t in tracks]
    if not any(have):
        return None
    if not all(have):
        raise Vp3dError(f"{path}: some detections have a track id and some do not; give every one a "
                        f"track_id, or none")
    return np.asarray([str(t) for t in tracks])


def _csv_joint_index(path: Path, joints: list[str]) -> tuple[np.ndarray, str | None]:
    """CSV joint column (indices or keypoint names) -> (indices, the layout the names belong to or None)."""
    if all(j.strip().lstrip("-").isdigit() for j in joints):
        idx = np.asarray([int(j) if len(j.strip()) < 7 else MAX_KEYPOINTS for j in joints])
        if (idx < 0).any() or (idx >= MAX_KEYPOINTS).any():
            raise Vp3dError(f"{path}: joint index {idx.min() if (idx < 0).any() else idx.max()}: expected 0 to "
                            f"{MAX_KEYPOINTS - 1}")
        return idx, None
    for layout in keypoint_layouts().values():
        lookup = {n.casefold(): i for i, n in enumerate(layout.names)}
        if all(j.strip().casefold() in lookup for j in set(joints)):
            return np.asarray([lookup[j.strip().casefold()] for j in joints]), layout.name
    unknown = sorted({j for j in joints if not j.strip().isdigit()})[:3]
    raise Vp3dError(f"{path}: joints {unknown} are neither indices nor the keypoint names of one layout "
                    f"(COCO: {', '.join(keypoint_layouts()['coco'].names[:3])}, ...; Human3.6M: "
                    f"{', '.join(keypoint_layouts()['h36m'].names[:3])}, ...)")


CSV_COLUMNS = ("frame", "joint", "x", "y")   # required; optional: score, track


def read_csv(path: Path, rows: list[dict], options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """CSV rows frame,joint,x,y[,score][,track] -> one sequence per track (one without a track column)."""
    if not rows:
        raise Vp3dError(f"{path}: no rows under the header")
    has_score, has_track = "score" in rows[0], "track" in rows[0]
    try:
        frames = frame_numbers(path, [int(r["frame"]) for r in rows])
        xy = np.asarray([(float(r["x"]), float(r["y"])) for r in rows])
        score = np.asarray([float(r["score"]) for r in rows]) if has_score else np.ones(len(rows))
    except (TypeError, ValueError) as e:
        raise Vp3dError(f"{path}: frame must be an integer and x, y{', score' if has_score else ''} numbers "
                        f"({e})") from None
    joint, layout = _csv_joint_index(path, [r["joint"] for r in rows])
    num_joints = len(keypoint_layouts()[layout].names) if layout else int(joint.max()) + 1
    tracks = np.asarray([r["track"] for r in rows]) if has_track else np.zeros(len(rows), int)
    out = []
    for track in dict.fromkeys(tracks.tolist()):
        sel = tracks == track
        ids, inverse = np.unique(frames[sel], return_inverse=True)      # detections: one per frame
        kps = np.full((len(ids), num_joints, 2), np.nan)
        scores = np.zeros((len(ids), num_joints))
        count = np.zeros((len(ids), num_joints), int)
        np.add.at(count, (inverse, joint[sel]), 1)
        if (count > 1).any():
            f, j = np.argwhere(count > 1)[0]
            raise Vp3dError(f"{path}: frame {ids[f]} lists joint {j} twice"
                            f"{f' for track {track}' if has_track else ''} (one row per frame and joint)")
        if (count == 0).any():
            f, j = np.argwhere(count == 0)[0]
            raise Vp3dError(f"{path}: frame {ids[f]} lacks joint {j}; a listed frame needs all {num_joints} joints")
        kps[inverse, joint[sel]] = xy[sel]
        scores[inverse, joint[sel]] = score[sel]
        for seq in assemble(path, path.stem if not has_track else f"{path.stem}_track{track}", ids,
                            kps.astype(np.float32), scores.mean(1), scores.astype(np.float32) if has_score else None,
                            options=options):
            seq.layout, seq.video = layout, path.stem
            out.append(seq)
    return out


# ---------------------------------------------------------------------------------------------
# Detectors' own outputs: Detectron2 (upstream's infer_video_d2.py), OpenPose, AlphaPose
# ---------------------------------------------------------------------------------------------

DETECTRON_KEYS = ("boxes", "keypoints", "metadata")


def _is_detectron_npz(names: list[str]) -> bool:
    return {"boxes", "keypoints"} <= set(names)


def read_detectron_npz(path: Path, _names=None, options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """upstream's inference/infer_video_d2.py output, read as its data/prepare_data_2d_custom.py prepares
    it: boxes[i][1] (N, 5) x1, y1, x2, y2, score and keypoints[i][1] (N, 4, 17) x, y, logit, probability of
    video frame i (empty: no detection); the highest-scored box's keypoints per frame, frame i of the
    sequence = frame i of the video, frames without a detection interpolated; the image size from
    metadata {'w', 'h'}. The sequence is named as upstream names it: the file name less '.npz'."""
    boxes, kps, metadata = (load_npz_key(path, k) for k in DETECTRON_KEYS)
    expected = "Detectron2 output of infer_video_d2.py: boxes and keypoints (frames, 2) object arrays"
    if not all(isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[1] == 2 for a in (boxes, kps)) \
            or len(boxes) != len(kps) or len(boxes) == 0:
        raise Vp3dError(f"{path}: boxes {getattr(boxes, 'shape', None)}, keypoints {getattr(kps, 'shape', None)}; "
                        f"expected {expected} of the same length")
    frames, points, box_scores, point_scores = [], [], [], []
    for i, (b, k) in enumerate(zip(boxes[:, 1], kps[:, 1])):     # one object per frame: a loop over frames
        if len(b) == 0 or len(k) == 0:
            continue
        try:
            b, k = np.asarray(b, np.float64), np.asarray(k, np.float64)
        except (TypeError, ValueError):
            raise Vp3dError(f"{path}: frame {i}: boxes or keypoints are not numeric arrays") from None
        if b.ndim != 2 or b.shape[1] != 5 or k.shape != (len(b), 4, 17):
            raise Vp3dError(f"{path}: frame {i}: boxes {b.shape}, keypoints {k.shape}; expected (N, 5) and "
                            f"(N, 4, 17) (x, y, logit, probability of the 17 COCO keypoints)")
        frames.append(np.full(len(b), i))
        points.append(k[:, :2].transpose(0, 2, 1))
        box_scores.append(b[:, 4])
        point_scores.append(k[:, 3])
    if not frames:
        raise Vp3dError(f"{path}: no detections in any of its {len(boxes)} frames")
    try:
        size = (int(metadata["w"]), int(metadata["h"]))
    except (TypeError, KeyError, ValueError):
        raise Vp3dError(f"{path}: 'metadata' must be {{'w', 'h'}}: the video's frame size") from None
    scores = np.concatenate(box_scores)
    if not np.isfinite(scores).all():
        raise Vp3dError(f"{path}: non-finite box scores")
    seqs = assemble(path, _detectron_name(path, metadata), np.concatenate(frames),
                    np.concatenate(points).astype(np.float32), scores, np.concatenate(point_scores).astype(np.float32),
                    span=(0, len(boxes)), options=options, listed=len(boxes))
    fps = metadata.get("fps")
    for seq in seqs:
        seq.image_size = size
        seq.fps = float(fps) if isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0 else None
    return seqs


def _detectron_name(path: Path, metadata: dict) -> str:
    """The video's name: upstream's (the file name less '.npz'), or where a vp3d detector run recorded the
    video (io.detections), the video file's stem, as a lift of the video names it."""
    video = metadata.get("video")
    if isinstance(video, dict) and isinstance(video.get("name"), str) and Path(video["name"]).stem:
        return Path(video["name"]).stem
    return path.stem


OPENPOSE_FILE = re.compile(r"^(?P<name>.*)_(?P<frame>\d{12})_keypoints\.json$")   # <name>_<frame>_keypoints.json
OPENPOSE_ORDERS = {len(OPENPOSE_BODY_25): ("BODY_25", coco_from_openpose(OPENPOSE_BODY_25)),
                   len(OPENPOSE_COCO_18): ("COCO-18", coco_from_openpose(OPENPOSE_COCO_18))}


def _openpose_files(files: list[Path]) -> dict[str, list[tuple[int, Path]]]:
    """OpenPose's per-frame files among `files`: {video name: [(frame, path)] in frame order}."""
    videos: dict[str, list[tuple[int, Path]]] = {}
    for f in files:
        m = OPENPOSE_FILE.match(f.name)
        if m:
            videos.setdefault(m["name"], []).append((int(m["frame"]), f))
    return {name: sorted(v) for name, v in sorted(videos.items())}


def read_openpose_folder(path: Path, files: list[Path], options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """A folder of OpenPose's --write_json output: <name>_<frame>_keypoints.json per frame, each
    {"people": [{"person_id": [...], "pose_keypoints_2d": [x, y, c, ...]}]}; BODY_25 or COCO-18 mapped to
    COCO-17 by name. c == 0: not detected (filled from the frames where it is). OpenPose gives no person
    score: the best person of a frame has the highest mean c. person_id (not -1) is a track id. One video
    per <name>."""
    out = []
    for name, listed in _openpose_files(files).items():
        frames, kps, tracks = [], [], []
        for frame, f in listed:                                   # one file per frame
            content = read_json(f, 'an OpenPose frame {"people": [{"pose_keypoints_2d": [x, y, c, ...]}]}',
                                options.max_json_bytes)
            people = content.get("people") if isinstance(content, dict) else None
            if not isinstance(people, list):
                raise Vp3dError(f"{f}: no \"people\" list; expected an OpenPose frame {{\"people\": [...]}}")
            for person in people:
                values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
                if not isinstance(values, list) or len(values) // 3 not in OPENPOSE_ORDERS or len(values) % 3:
                    raise Vp3dError(f"{f}: pose_keypoints_2d of {len(values) if isinstance(values, list) else values!r} "
                                    f"values; expected 75 (BODY_25) or 54 (COCO-18): x, y, c per keypoint")
                pid = person.get("person_id", -1)
                pid = pid[0] if isinstance(pid, list) and pid else pid
                frames.append(frame)
                kps.append(values)
                tracks.append(None if pid in (-1, None, []) else pid)
        if not frames:
            raise Vp3dError(f"{listed[0][1]}: no people in any of the {len(listed)} frames of {name!r}")
        sizes = {len(k) for k in kps}
        if len(sizes) > 1:
            raise Vp3dError(f"{path}: {name!r} mixes keypoint orders ({sorted(v // 3 for v in sizes)} keypoints)")
        try:
            triples = np.asarray(kps, np.float64).reshape(len(kps), -1, 3)
        except (TypeError, ValueError):
            raise Vp3dError(f"{path}: {name!r}: pose_keypoints_2d must hold numbers") from None
        triples = triples[:, OPENPOSE_ORDERS[triples.shape[1]][1]]
        if not np.isfinite(triples).all():
            i = int(np.argwhere(~np.isfinite(triples))[0, 0])
            raise Vp3dError(f"{path}: {name!r}: non-finite keypoint values at frame {frames[i]}")
        conf = triples[..., 2]
        seqs = assemble(path, name, np.asarray(frames), triples[..., :2].astype(np.float32), conf.mean(1),
                        conf.astype(np.float32), _tracks(path, tracks), visible=conf > 0,
                        span=(listed[0][0], listed[-1][0] + 1), options=options, listed=len(listed))
        out.extend(seqs)
    return out


def _is_openpose_folder(files: list[Path]) -> bool:
    return bool(_openpose_files(files))


def is_openpose_folder(path: str | Path) -> bool:
    """Whether `path` is a folder of OpenPose's per-frame files: one input, not a folder of inputs."""
    path = Path(path)
    return path.is_dir() and _is_openpose_folder(_folder_files(path))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ALPHAPOSE_WIDTHS = {51: "COCO-17", 78: "Halpe-26"}     # keypoint values per detection; both start with COCO-17


def _is_alphapose(content) -> bool:
    """AlphaPose results look like COCO results; theirs name images ('0.jpg'), carry 'idx', or Halpe-26."""
    return _is_coco_results(content) and any(
        "idx" in e or (isinstance(e["keypoints"], list) and len(e["keypoints"]) == 78)
        or (isinstance(e["image_id"], str) and e["image_id"].lower().endswith(IMAGE_SUFFIXES)) for e in content)


def _frame_number(path: Path, image_id) -> int:
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        return image_id
    digits = re.findall(r"\d+", Path(str(image_id)).stem)
    if not digits:
        raise Vp3dError(f"{path}: image_id {image_id!r} holds no frame number (expected e.g. '12.jpg')")
    return int(digits[-1])


def _track_ids(idx: list) -> np.ndarray | None:
    """AlphaPose's idx as track ids (--pose_track), or None where they are not: absent, or not telling
    people apart (AlphaPose without tracking writes the same idx for everyone)."""
    if any(i is None for i in idx):
        return None
    ids = [i[0] if isinstance(i, list) and len(i) == 1 else i for i in idx]
    if not all(isinstance(i, (int, float)) and not isinstance(i, bool) and float(i).is_integer() for i in ids):
        return None
    ids = np.asarray(ids, np.int64)
    return ids if len(set(ids.tolist())) > 1 else None


def read_alphapose_json(path: Path, content, options: ReadOptions = ReadOptions()) -> list[KeypointSequence]:
    """AlphaPose results: [{"image_id": "0.jpg", "keypoints": [x, y, s, ...], "score", "idx"}]; the frame
    number is the image name's (last) digits; COCO-17 (51 values) or Halpe-26 (78; its first 17 are
    COCO-17's); idx a track id where it tells people apart (--pose_track)."""
    try:
        frames = [_frame_number(path, e["image_id"]) for e in content]
        kps = [e["keypoints"] for e in content]
        person = np.asarray([float(e.get("score", 0.0)) for e in content])
    except (TypeError, ValueError) as e:
        raise Vp3dError(f"{path}: AlphaPose results need 'image_id', 'keypoints' [x, y, s, ...] and a numeric "
                        f"'score' ({e})") from None
    names: dict[int, object] = {}
    for f, e in zip(frames, content):
        if names.setdefault(f, e["image_id"]) != e["image_id"]:
            raise Vp3dError(f"{path}: image_ids {names[f]!r} and {e['image_id']!r} give the same frame number {f}")
    flat = _keypoint_array(path, kps, tuple(ALPHAPOSE_WIDTHS), "'keypoints' (51 values: COCO-17, or 78: Halpe-26)")
    triples = flat.reshape(len(kps), -1, 3)[:, :17]
    seqs = assemble(path, path.stem, np.asarray(frames), triples[..., :2].astype(np.float32), person,
                    triples[..., 2].astype(np.float32), _track_ids([e.get("idx") for e in content]),
                    options=options)
    return seqs


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

def _load_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise Vp3dError(f"{path}: CSV header {','.join(header) or '(none)'} lacks {','.join(missing)}; "
                                f"expected frame,joint,x,y[,score][,track]")
            reader.fieldnames = header
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise Vp3dError(f"{path}: not a readable CSV file ({e})") from None


@dataclass(frozen=True)
class InputFormat:
    """One keypoint file format: which files it reads, how to tell it from its content, its reader."""

    name: str
    suffix: str                                   # '.npz', '.json', '.csv'; '/': a folder
    expected: str                                 # what the file should hold, for error messages
    recognise: Callable[[Any], bool]              # on the loaded content
    read: Callable[[Path, Any, ReadOptions], list[KeypointSequence]]
    layout: str | None = None                     # the keypoint order the format implies, where it does


FOLDER = "/"     # the suffix of formats that are a folder of files


def _folder_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file())


LOADERS: dict[str, Callable[[Path, ReadOptions], Any]] = {     # a file's content, as the readers take it
    ".npz": lambda path, _options: npz_names(path),
    ".json": lambda path, options: read_json(path, "MMPose predictions, COCO keypoint results or AlphaPose results",
                                             options.max_json_bytes),
    ".csv": lambda path, _options: _load_csv(path), FOLDER: lambda path, _options: _folder_files(path)}


def _is_openpose_frame(content) -> bool:
    return isinstance(content, dict) and isinstance(content.get("people"), list)


def _openpose_file_given(path: Path, _content, _options=None):
    raise Vp3dError(f"{path}: one frame of OpenPose output; give the folder that holds all of its "
                    f"<name>_<frame>_keypoints.json files")


FORMATS: tuple[InputFormat, ...] = (
    InputFormat("detectron-npz", ".npz", "upstream's infer_video_d2.py output (boxes, keypoints, metadata)",
                _is_detectron_npz, read_detectron_npz, "coco"),
    InputFormat("upstream-npz", ".npz", "upstream's data_2d_custom_<name>.npz (positions_2d, metadata)",
                lambda names: _is_upstream_npz(names) and not _is_detectron_npz(names), read_upstream_npz),
    InputFormat("arrays-npz", ".npz", "(T, J, 2) pixel keypoint arrays keyed by video name (np.savez)",
                lambda names: not _is_upstream_npz(names) and not _is_detectron_npz(names), read_arrays_npz),
    InputFormat("mmpose-json", ".json", 'MMPose predictions {"instance_info": [{"frame_id", "instances": [...]}]}',
                lambda content: _mmpose_frames(content) is not None, read_mmpose_json, "coco"),
    InputFormat("alphapose-json", ".json", 'AlphaPose results [{"image_id": "0.jpg", "keypoints": [x, y, s, ...], '
                '"score", "idx"}]', _is_alphapose, read_alphapose_json, "coco"),
    InputFormat("coco-json", ".json", 'COCO keypoint results [{"image_id", "keypoints": [x, y, v, ...], "score"}]',
                _is_coco_results, read_coco_json, "coco"),
    InputFormat("openpose-frame", ".json", "", _is_openpose_frame, _openpose_file_given),
    InputFormat("csv", ".csv", "a CSV with header frame,joint,x,y[,score][,track]", lambda content: True, read_csv),
    InputFormat("openpose-json", FOLDER, "OpenPose's <name>_<frame>_keypoints.json files (--write_json)",
                _is_openpose_folder, read_openpose_folder, "coco"),
)


def _read_one(path: Path, fmt: InputFormat, content, options: ReadOptions) -> list[KeypointSequence]:
    seqs = fmt.read(path, content, options)
    for seq in seqs:
        seq.layout = seq.layout or fmt.layout
    return seqs


def _read_folder(path: Path, options: ReadOptions) -> list[KeypointSequence]:
    """A folder: its OpenPose frames (one video per <name>) and every Detectron2 .npz in it (one video each)."""
    files = LOADERS[FOLDER](path, options)
    seqs = []
    for fmt in (f for f in FORMATS if f.suffix == FOLDER):
        if fmt.recognise(files):
            seqs += _read_one(path, fmt, files, options)
    detectron = next(f for f in FORMATS if f.name == "detectron-npz")
    for f in files:
        if f.suffix.lower() == ".npz" and detectron.recognise(LOADERS[".npz"](f, options)):
            seqs += _read_one(f, detectron, None, options)
    if not seqs:
        raise Vp3dError(f"{path}: a folder without keypoint files vp3d reads as a folder; expected OpenPose's "
                        f"<name>_<frame>_keypoints.json files or Detectron2 .npz files (infer_video_d2.py)")
    return seqs


DEFAULT_MIN_FRAMES = 15    # detected frames below which a track is a fragment (docs/formats.md: measured) ...
FRAGMENT_SHARE = 0.25      # ... or below this share of its video's frames, whichever is fewer (short clips)


def drop_short(seqs: list[KeypointSequence], min_frames: int | None = None
               ) -> tuple[list[KeypointSequence], list[KeypointSequence]]:
    """(the sequences detected in at least min_frames frames, the others); 1 keeps all. None: drop fragments,
    those detected in fewer than DEFAULT_MIN_FRAMES frames or FRAGMENT_SHARE of their video's frames (the span
    of its sequences), whichever is fewer; a video keeps its most-detected sequence whatever its length."""
    keep = [True] * len(seqs)
    for video in dict.fromkeys(s.video_key for s in seqs):
        mine = [i for i, s in enumerate(seqs) if s.video_key == video]
        if min_frames is None:
            span = max(seqs[i].first_frame + seqs[i].frames for i in mine) - min(seqs[i].first_frame for i in mine)
            limit = min(DEFAULT_MIN_FRAMES, math.ceil(FRAGMENT_SHARE * span))
        else:
            limit = int(min_frames)
        for i in mine:
            keep[i] = seqs[i].detected_frames >= limit
        if min_frames is None and not any(keep[i] for i in mine):
            keep[max(mine, key=lambda i: seqs[i].detected_frames)] = True
    return [s for s, k in zip(seqs, keep) if k], [s for s, k in zip(seqs, keep) if not k]


def check_filled(seqs: list[KeypointSequence], min_score: float | None = None) -> list[KeypointSequence]:
    """`seqs`; Vp3dError naming the file, sequence and keypoint where a keypoint was never detected (or
    never scored min_score or more) in a sequence: nothing to fill it from."""
    for seq in seqs:
        lost = np.isnan(seq.keypoints).all(axis=(0, 2))
        if lost.any():
            raise Vp3dError(f"{seq.where}: keypoint {int(np.flatnonzero(lost)[0])} is never detected"
                            + (f" with a score of {min_score} or more" if min_score is not None else "")
                            + "; nothing to fill it from" + (" (lower --min-score)" if min_score is not None else ""))
    return seqs


def read_sequences(path: str | Path, people: str = "best", min_score: float | None = None,
                   min_frames: int | None = None, max_frames: int | None = None,
                   max_json_bytes: int = MAX_JSON_BYTES) -> tuple[list[KeypointSequence], list[KeypointSequence]]:
    """(read_keypoints' sequences, those dropped as detected in fewer than min_frames frames: drop_short)."""
    if people not in PEOPLE:
        raise Vp3dError(f"people={people!r}: expected one of {', '.join(PEOPLE)}")
    options = ReadOptions(people, None if min_score is None else float(min_score), max_frames, max_json_bytes)
    seqs, dropped = drop_short(_read_any(Path(path), options), min_frames)
    return check_filled(seqs, options.min_score), dropped


def read_keypoints(path: str | Path, people: str = "best", min_score: float | None = None,
                   min_frames: int | None = None, max_frames: int | None = None,
                   max_json_bytes: int = MAX_JSON_BYTES) -> list[KeypointSequence]:
    """Every sequence in a keypoint file or folder, whichever of FORMATS it is; Vp3dError naming the file and
    what was expected otherwise. people: 'best' (upstream's: the highest-scored detection per frame) or 'all'
    (every person: the file's track ids, else tracked across frames, '<video>_person<k>'); min_score:
    keypoints and detections scored below it are missing, filled by interpolation; min_frames: sequences
    detected in fewer frames are dropped (None: fragments, drop_short; 1 keeps all; read_sequences also
    returns the dropped ones); max_frames: the most frames a sequence may span (None: facts.limits.frame_limit's
    default); max_json_bytes: a JSON file's size, at most."""
    return read_sequences(path, people, min_score, min_frames, max_frames, max_json_bytes)[0]


def _read_any(path: Path, options: ReadOptions) -> list[KeypointSequence]:
    if path.is_dir():
        return _read_folder(path, options)
    suffix = path.suffix.lower()
    candidates = [f for f in FORMATS if f.suffix == suffix]
    if suffix in VIDEO_SUFFIXES:
        raise Vp3dError(f"{path}: a video, not 2D keypoints: give it to vp3d_lift.py as its input (a 2D pose "
                        f"detector runs first), or run vp3d_detect.py on it and use the file it writes (README: Lift "
                        f"your own video)")
    if not candidates:
        raise Vp3dError(f"{path}: unknown keypoint file type {suffix or '(no suffix)'}; expected "
                        f"{', '.join(sorted(s for s in LOADERS if s != FOLDER))} or a folder")
    if not path.is_file():
        raise Vp3dError(f"{path}: no such keypoint file")
    refuse_empty(path, " or ".join(f.expected for f in candidates if f.expected))
    content = LOADERS[suffix](path, options)
    for fmt in candidates:
        if fmt.recognise(content):
            return _read_one(path, fmt, content, options)
    raise Vp3dError(f"{path}: not a keypoint file this reads; expected "
                    f"{' or '.join(f.expected for f in candidates if f.expected)}")
