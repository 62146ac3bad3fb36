"""Tracking people across frames, for files whose detections carry no track ids (vp3d_lift.py --people all).

Each frame's detections are assigned to the live tracks by the Hungarian method
(scipy.optimize.linear_sum_assignment) on a keypoint distance: the mean pixel distance between a
detection's keypoints and the track's keypoints predicted by a constant-velocity motion model (each
keypoint moves on at its last observed velocity), over the keypoints visible in both, divided by the
track's size (the square root of its last keypoint box's area). A pair farther apart than MAX_COST
sizes is no match; an unmatched detection starts a new track; a track unseen for more than MAX_GAP
frames ends. The motion model is what keeps people apart where they cross: at the crossing their
keypoints lie on top of each other, but each track's prediction carries on along its own path.

Then fragments are re-linked (link_fragments): a track that ends and one that starts later, at most
LINK_GAP frames after, are one person where the later one's first detection lies within MAX_COST of the
earlier one's last, as the motion model carries it across the gap (the body's velocity over its last
VELOCITY_SPAN frames, for up to MAX_PREDICT frames or for the whole gap, or standing still: the closest of
the three), or likewise the later one carried back. The closest pairs link first; each track links to one before and one after.
"""
from __future__ import annotations

import numpy as np

from vp3d.errors import needs_extra

MAX_COST = 0.5     # a detection farther than this x the track's size from its prediction is not that track
MAX_GAP = 30       # frames a track may go unseen and still be continued
MAX_PREDICT = 5    # frames a track's motion is extrapolated, at most (beyond: it waits where it was heading)
SMOOTHING = 0.5    # weight of the newest velocity in the track's running velocity (per keypoint)
MIN_SIZE = 1.0     # pixels: floor of a track's size, for degenerate boxes
LINK_GAP = 90      # frames: the longest gap between two fragments that re-linking bridges
VELOCITY_SPAN = 10 # frames at a fragment's end whose body motion gives the velocity that crosses the gap


def track_people(frames: np.ndarray, keypoints: np.ndarray, visible: np.ndarray | None = None,
                 max_cost: float = MAX_COST, max_gap: int = MAX_GAP, motion: bool = True,
                 link: bool = True) -> np.ndarray:
    """Track ids (N,) int, 1, 2, ... in order of first appearance (ties: left to right), for N detections:
    frames (N,) int frame numbers, keypoints (N, J, 2) pixels, visible (N, J) bool (None: all). At most one
    detection per frame goes to each track. motion=False predicts no motion, link=False leaves fragments apart
    (link_fragments; both for comparison)."""
    n, j = keypoints.shape[:2]
    kps = keypoints.astype(np.float64)
    vis = np.ones((n, j), bool) if visible is None else visible.astype(bool)
    ids = np.zeros(n, np.int64)
    tracker = PeopleTracker(j, max_cost, max_gap, motion)
    order = np.argsort(frames, kind="stable")
    bounds = np.flatnonzero(np.diff(frames[order])) + 1
    for rows in np.split(order, bounds):                   # one frame at a time: tracking is sequential
        ids[rows] = tracker.step(int(frames[rows[0]]), kps[rows], vis[rows])
    return link_fragments(frames, kps, vis, ids, max_cost) if link else ids


class PeopleTracker:
    """The tracker of track_people, one frame at a time (live lifting: vp3d_lift.py VIDEO --stream --people all).
    Without link_fragments, which needs the frames to come: a person unseen for more than max_gap frames returns
    under a new id."""

    def __init__(self, joints: int, max_cost: float = MAX_COST, max_gap: int = MAX_GAP, motion: bool = True):
        try:
            from scipy.optimize import linear_sum_assignment
        except ImportError:
            raise needs_extra("tracking people (--people all)", "people", "scipy") from None
        self.assign = linear_sum_assignment
        self.max_cost, self.max_gap, self.motion = max_cost, max_gap, motion
        # live track state: last keypoints (K, J, 2), which of them were ever seen (K, J), velocity, which
        # keypoints' velocity has been observed, size, last frame, the track's id
        self.last = np.zeros((0, joints, 2))
        self.seen = np.zeros((0, joints), bool)
        self.vel = np.zeros((0, joints, 2))
        self.moving = np.zeros((0, joints), bool)
        self.size = np.zeros(0)
        self.when = np.zeros(0, np.int64)
        self.track_of = np.zeros(0, np.int64)
        self.count = 0

    def step(self, t: int, x: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
        """Frame t's detections, keypoints x (D, J, 2) pixels and visible v (D, J) bool (None: all) -> their
        track ids (D,) int, 1, 2, ... in order of first appearance. Frames come in increasing order."""
        x = np.asarray(x, np.float64)
        v = np.ones(x.shape[:2], bool) if v is None else np.asarray(v, bool)
        live = t - self.when <= self.max_gap
        for name in ("last", "seen", "vel", "moving", "size", "when", "track_of"):
            setattr(self, name, getattr(self, name)[live])
        last, seen, vel, moving, size, when = self.last, self.seen, self.vel, self.moving, self.size, self.when
        matched_slot = np.full(len(x), -1)
        if len(last):
            dt = np.minimum(t - when, MAX_PREDICT)[:, None, None]     # no far extrapolation over long gaps
            pred = last + vel * dt if self.motion else last
            dist = np.linalg.norm(pred[:, None] - x[None], axis=-1)            # (K, D, J)
            both = seen[:, None] & v[None]
            common = both.sum(-1)
            cost = np.where(both, dist, 0).sum(-1) / np.maximum(common, 1) / size[:, None]
            cost = np.where(common > 0, cost, np.inf)
            ok = cost <= self.max_cost
            r, c = self.assign(np.where(ok, cost, 1e6))
            keep = ok[r, c]
            matched_slot[c[keep]] = r[keep]
        for d in np.flatnonzero(matched_slot >= 0):       # update the matched tracks
            k = matched_slot[d]
            upd = v[d]
            both = upd & seen[k]
            gap = max(t - when[k], 1)
            new_vel = (x[d] - last[k]) / gap
            known = both & moving[k]                      # a first velocity is taken as it is
            vel[k][known] = SMOOTHING * new_vel[known] + (1 - SMOOTHING) * vel[k][known]
            vel[k][both & ~moving[k]] = new_vel[both & ~moving[k]]
            moving[k] |= both
            last[k][upd] = x[d][upd]
            seen[k] |= upd
            size[k] = _size(x[d], upd)
            when[k] = t
        new = np.flatnonzero(matched_slot < 0)
        new = new[np.argsort(_centre_x(x[new], v[new]), kind="stable")]      # ties in first appearance: left first
        for d in new:
            self.count += 1
            self.last = np.concatenate([self.last, np.where(v[d][:, None], x[d], 0)[None]])
            self.seen = np.concatenate([self.seen, v[d][None]])
            self.vel = np.concatenate([self.vel, np.zeros((1, x.shape[1], 2))])
            self.moving = np.concatenate([self.moving, np.zeros((1, x.shape[1]), bool)])
            self.size = np.append(self.size, _size(x[d], v[d]))
            self.when = np.append(self.when, t)
            self.track_of = np.append(self.track_of, self.count)
            matched_slot[d] = len(self.last) - 1
        return self.track_of[matched_slot]


def link_fragments(frames: np.ndarray, keypoints: np.ndarray, visible: np.ndarray, ids: np.ndarray,
                   max_cost: float = MAX_COST, max_gap: int = LINK_GAP) -> np.ndarray:
    """Track ids (N,) with the fragments of one person joined (module docstring), renumbered 1, 2, ... in
    order of first appearance (ties as in `ids`). frames (N,), keypoints (N, J, 2), visible (N, J) bool."""
    tracks = np.unique(ids)
    if len(tracks) < 2:
        return ids
    ends = [_Ends.of(frames, keypoints, visible, np.flatnonzero(ids == t)) for t in tracks]
    pairs = []
    for a, ea in enumerate(ends):
        for b, eb in enumerate(ends):
            gap = eb.first - ea.last
            if 0 < gap <= max_gap:
                cost = min(_reach(ea.end, ea.end_vel, ea.end_seen, eb.start, eb.start_seen, gap),
                           _reach(eb.start, -eb.start_vel, eb.start_seen, ea.end, ea.end_seen, gap))
                size = max((ea.size + eb.size) / 2, MIN_SIZE)
                if cost / size <= max_cost:
                    pairs.append((cost / size, a, b))
    after, before = {}, {}
    for _, a, b in sorted(pairs):                                  # the closest first
        if a not in after and b not in before:
            after[a], before[b] = b, a
    root = list(range(len(tracks)))
    for a in sorted(after, key=lambda k: ends[k].first):           # chains, from their first fragment
        root[after[a]] = root[a]
    merged = np.asarray(root)[np.searchsorted(tracks, ids)]
    order = {r: n + 1 for n, r in enumerate(sorted(set(root)))}    # fragments were numbered by first appearance
    return np.asarray([order[r] for r in merged], np.int64)


class _Ends:
    """A fragment's first and last detections: keypoints (J, 2), which were seen, the body's velocity there
    (pixels per frame, (2,): its keypoints' mean over the fragment's first / last VELOCITY_SPAN frames; 0 with
    one detection), its size, and its first and last frame."""

    @classmethod
    def of(cls, frames, keypoints, visible, rows):
        e = cls()
        rows = rows[np.argsort(frames[rows], kind="stable")]
        t = frames[rows]
        centre = np.stack([_centre(keypoints[r], visible[r]) for r in rows])
        e.first, e.last = int(t[0]), int(t[-1])
        e.start, e.end = keypoints[rows[0]], keypoints[rows[-1]]
        e.start_seen, e.end_seen = visible[rows[0]], visible[rows[-1]]
        early = np.flatnonzero(t <= t[0] + VELOCITY_SPAN)[-1]
        late = np.flatnonzero(t >= t[-1] - VELOCITY_SPAN)[0]
        e.start_vel = (centre[early] - centre[0]) / max(t[early] - t[0], 1)
        e.end_vel = (centre[-1] - centre[late]) / max(t[-1] - t[late], 1)
        e.size = _size(e.end, e.end_seen)
        return e


def _centre(x: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(2,) mean of the visible (J, 2) keypoints (all where none is)."""
    return (x[visible] if visible.any() else x).mean(0)


def _reach(x: np.ndarray, vel: np.ndarray, seen: np.ndarray, y: np.ndarray, y_seen: np.ndarray, gap: int) -> float:
    """Mean pixel distance from keypoints y (J, 2) to keypoints x carried `gap` frames by the motion model
    (velocity vel for up to MAX_PREDICT frames, or for all of the gap, or standing still: the closest), over
    the keypoints seen in both; inf where none is."""
    both = seen & y_seen
    if not both.any():
        return np.inf
    return min(float(np.linalg.norm(x + vel * dt - y, axis=-1)[both].mean()) for dt in (0, min(gap, MAX_PREDICT), gap))


def _size(x: np.ndarray, visible: np.ndarray) -> float:
    """sqrt of the area of the box around the visible (J, 2) keypoints, at least MIN_SIZE pixels."""
    p = x[visible] if visible.any() else x
    w, h = p.max(0) - p.min(0)
    return max(float(np.sqrt(max(w, MIN_SIZE) * max(h, MIN_SIZE))), MIN_SIZE)


def _centre_x(x: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(D,) mean x of each detection's visible keypoints."""
    return np.where(visible, x[..., 0], 0).sum(-1) / np.maximum(visible.sum(-1), 1)
