"""Frame-by-frame lifting with cached state: the same poses as predict_sequence, one frame at a time.

A dilated convolution's newest output needs only the last (w - 1) d + 1 columns of its input, so each
layer keeps those in a ring buffer and a new frame costs one column per layer (one matrix-vector product
over the concatenated taps, model.folded). StatePool holds the buffers of many sequences (slots) and
steps any subset of them as one batch; PoseStream adds what predict_sequence does around the model:
edge padding (the first frame stands for the (RF - 1) / 2 frames before it, all RF - 1 for causal models;
flush() repeats the last one), the mirrored copy beside each track (flip augmentation, un-flipped into
the average) and the trajectory model's root added to every joint.

Padded-frame count n: frames fed to a slot so far, padding included. The newest output column is the
pose of sequence frame n - RF, valid once n >= RF.

Another frame rate (ResampledStream): input frames are resampled to the model's rate as they arrive and each
input frame's pose is interpolated back from the model's final poses, as offline lifting does around the model.

Lookahead (LookaheadPlan): the output k columns past the newest frame, the unseen frames filled with the
newest one, needs only a few columns per layer: the last layer reads 3 columns, the one below at most 9,
and so on, and of a layer's columns past the newest frame all from a certain one on are equal (their whole
input span is filled). StatePool.step computes those columns in the same matrix product as the step's own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Hashable

import numpy as np

from vp3d.facts.architecture import pad_frames
from vp3d.facts.skeleton import NO_SYMMETRY, Symmetry
from vp3d.pipeline.resample import interpolate_frames, resampled_length
from vp3d.pipeline.sequences import flip_augment, unflip_average
from vp3d.engines.stream_layers import make_stream_layer
from vp3d.model.folded import FoldedLayer, FoldedModel



@dataclass(frozen=True)
class LookaheadPlan:
    """Which columns past the newest input column t each layer computes for the output at t + ahead.

    Per layer i: outputs[i] the output offsets (> 0, relative to t) computed besides the step's own
    column 0; past[i] the offsets (<= 0) read from the layer's buffer; taps[i] (1 + len(outputs[i]),
    width) indices into concat(buffer columns at past[i], the previous layer's outputs[i - 1] columns),
    row 0 the step's own column. Filled input (offsets > 0 of the expand layer) is the newest frame (0).
    """

    ahead: int
    outputs: tuple
    past: tuple
    taps: tuple

    @classmethod
    def build(cls, model: FoldedModel, ahead: int) -> "LookaheadPlan":
        layers = model.layers
        # first offset from which layer i's input is constant over the filled frames
        const = np.cumsum([1] + [layer.span - 1 for layer in layers]).tolist()
        need = {ahead} if ahead > 0 else set()                 # output offsets of the layer above
        outputs, past, taps = [None] * len(layers), [None] * len(layers), [None] * len(layers)
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            outs = sorted({min(c, const[i + 1]) for c in need})
            rows = [[o - layer.dilation * j for j in range(layer.width - 1, -1, -1)] for o in [0] + outs]
            # filled input: the newest frame for the expand layer, else the lower layer's constant column
            rows = [[o if o <= 0 else (0 if i == 0 else min(o, const[i])) for o in row] for row in rows]
            back = sorted({o for row in rows for o in row if o <= 0})
            need = {o for row in rows for o in row if o > 0}
            below = sorted(need)
            index = {**{o: j for j, o in enumerate(back)}, **{o: len(back) + j for j, o in enumerate(below)}}
            outputs[i], past[i] = tuple(outs), np.array(back)
            taps[i] = np.array([[index[o] for o in row] for row in rows])
        return cls(ahead, tuple(outputs), tuple(past), tuple(taps))


class StatePool:
    """Ring buffers of one FoldedModel for up to `capacity` sequences (slots; grows on demand).

    bufs[i]: (slots, span_i, C_i) float32, the last span_i input columns of layer i (layer 0 the expand
    conv, reading frames of J_in * 2 normalised coordinates); a column of time t lies at t % span_i.
    count: (slots,) padded frames fed so far (every layer receives one column per frame).
    """

    def __init__(self, model: FoldedModel, capacity: int = 2, engine: str = "numpy", threads: int | None = None):
        self.model = model
        self.engine = engine
        relu = [(layer, True) for pair in [(model.expand,)] + model.blocks for layer in pair] + [(model.shrink, False)]
        self.stream_layers = {id(layer): make_stream_layer(layer, r, engine, threads) for layer, r in relu}
        self.residual_taps = model.residual_taps
        self.channels = [model.channels_in] + [wide.weight.shape[0] for wide, _ in model.blocks]
        self.bufs = [np.zeros((capacity, layer.span, c), np.float32) for layer, c in zip(model.layers, self.channels)]
        self.count = np.zeros(capacity, np.int64)

    @property
    def capacity(self) -> int:
        return len(self.count)

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        self.bufs = [np.concatenate([b, np.zeros((extra, *b.shape[1:]), np.float32)]) for b in self.bufs]
        self.count = np.concatenate([self.count, np.zeros(extra, np.int64)])

    def state_bytes(self) -> int:
        """Bytes of buffer per slot."""
        return sum(b[0].nbytes for b in self.bufs)

    def _apply(self, layer: FoldedLayer, taps: np.ndarray) -> np.ndarray:
        """(..., width, C_in) taps -> (..., C_out): relu(weight @ taps + bias) on the pool's engine."""
        y = self.stream_layers[id(layer)](taps.reshape(-1, taps.shape[-2] * taps.shape[-1]))
        return y.reshape(*taps.shape[:-2], -1)

    def _layer(self, i: int, taps: np.ndarray) -> np.ndarray:
        """Layer i (0: expand) on (..., width, C) taps -> (..., C_out), its 1 x 1 layer and residual included."""
        m = self.model
        if i == 0:
            return self._apply(m.expand, taps)
        wide, pointwise = m.blocks[i - 1]
        y = self._apply(pointwise, self._apply(wide, taps)[..., None, :])
        y += taps[..., self.residual_taps[i - 1], :]
        return y

    def _shrink(self, h: np.ndarray) -> np.ndarray:
        return self._apply(self.model.shrink, h[..., None, :])

    def start(self, slots: np.ndarray, frames: np.ndarray, count: int) -> np.ndarray:
        """Begin `slots` as if `count` copies of `frames` (B, C_in) had been fed: every buffer filled with
        its layer's input for a constant sequence (each layer of a constant input is constant in time).
        Returns the newest output (B, 3 J_out): the pose of a window of that frame alone."""
        h = frames.astype(np.float32)
        for i, layer in enumerate(self.model.layers):
            self.bufs[i][slots] = h[:, None, :]
            h = self._layer(i, np.repeat(h[:, None, :], layer.width, axis=1))
        self.count[slots] = count
        return self._shrink(h)

    def step(self, slots: np.ndarray, frames: np.ndarray, plan: LookaheadPlan | None = None):
        """Feed one frame (B, C_in) to each of `slots`; returns the newest output (B, 3 J_out) (valid
        where count >= RF afterwards). With a plan, returns (newest, look): look (B, 3 J_out) the output
        plan.ahead columns later, the frames after this one filled with it (not committed)."""
        h = frames.astype(np.float32)
        newest = self.count[slots]                                      # time of the new column
        ahead = None                                                    # (B, len(outputs), C) past the newest
        for i, layer in enumerate(self.model.layers):
            span, buf = layer.span, self.bufs[i]
            buf[slots, newest % span] = h
            if plan is None:
                times = newest[:, None] - layer.dilation * np.arange(layer.width - 1, -1, -1)
                h = self._layer(i, buf[slots[:, None], times % span])  # taps (B, width, C)
                continue
            line = buf[slots[:, None], (newest[:, None] + plan.past[i]) % span]
            if ahead is not None and ahead.shape[1]:
                line = np.concatenate([line, ahead], axis=1)
            out = self._layer(i, line[:, plan.taps[i]])                 # (B, 1 + len(outputs), C_out)
            h, ahead = out[:, 0], out[:, 1:]
        self.count[slots] += 1
        if plan is None:
            return self._shrink(h)
        return self._shrink(h), self._shrink(ahead[:, -1] if plan.ahead else h)

    def advance(self, slots: np.ndarray, frames: np.ndarray, commit: bool = True) -> np.ndarray:
        """Feed K frames (B, K, C_in) to each of `slots` at once (each layer one matrix product over K
        columns); returns the K newest outputs (B, K, 3 J_out). commit=False leaves the state as it was:
        a look at outputs the frames would give."""
        h = frames.astype(np.float32)
        b, k = h.shape[:2]
        start = self.count[slots]
        for i, layer in enumerate(self.model.layers):
            span, buf = layer.span, self.bufs[i]
            past = start[:, None] + np.arange(-(span - 1), 0)                # the span - 1 columns before
            line = np.concatenate([buf[slots[:, None], past % span], h], axis=1)   # (B, span - 1 + K, C)
            taps = np.arange(k)[:, None] + layer.dilation * np.arange(layer.width)  # (K, width) in line
            if commit:
                last = min(k, span)
                times = start[:, None] + np.arange(k - last, k)
                buf[slots[:, None], times % span] = h[:, k - last:]
            h = self._layer(i, line[:, taps])                                     # (B, K, C_out)
        if commit:
            self.count[slots] += k
        return self._shrink(h)


class PoseStream:
    """Tracks of normalised 2D keypoints in, final poses out, frame by frame; see the module docstring.

    lookahead: frames after a frame that its pose waits for (symmetric models: 0..(RF - 1) / 2, default
    all (RF - 1) / 2, the exact offline result; the unseen rest of its window is filled with the newest
    frame, as the end of a sequence is: StatePool.step with a LookaheadPlan). Causal models answer each
    frame at once (lookahead 0). engine: the matrix products' (engines.stream_layers.ENGINES).
    """

    def __init__(self, pose: FoldedModel, trajectory: FoldedModel | None, keypoint_symmetry: Symmetry,
                 joint_symmetry: Symmetry, lookahead: int | None = None, engine: str = "numpy",
                 threads: int | None = None):
        rf = pose.receptive_field
        if trajectory is not None and (trajectory.receptive_field != rf or trajectory.causal != pose.causal):
            raise ValueError("the trajectory model must have the pose model's receptive field and causality")
        self.receptive_field, self.causal = rf, pose.causal
        pad = pad_frames(rf)
        self.lead = rf - 1 if pose.causal else pad          # copies of the first frame before it
        self.tail = 0 if pose.causal else pad               # copies of the last frame after it (flush)
        if lookahead is None:
            lookahead = self.tail
        if not 0 <= lookahead <= self.tail:
            raise ValueError(f"lookahead {lookahead}: a {'causal' if pose.causal else 'symmetric'} model with "
                             f"receptive field {rf} takes 0..{self.tail} frames")
        self.lookahead = lookahead
        self.pools = [StatePool(m, 2, engine, threads) for m in (pose, trajectory) if m is not None]
        self.plans = None if lookahead == self.tail else \
            [LookaheadPlan.build(pool.model, self.tail - lookahead) for pool in self.pools]
        self.symmetries = [joint_symmetry, NO_SYMMETRY]
        self.keypoint_symmetry = keypoint_symmetry
        self.slots: dict[Hashable, int] = {}        # track -> its first slot (the mirror: slot + 1)
        self.fed: dict[Hashable, int] = {}          # track -> frames pushed
        self.emitted: dict[Hashable, int] = {}      # track -> frames whose pose was returned
        self.last: dict[Hashable, np.ndarray] = {}  # track -> (2, C_in) newest frame and its mirror

    @property
    def lag(self) -> int:
        """Frames between a frame's push and its pose: the lookahead."""
        return self.lookahead

    def state_bytes(self) -> int:
        """Bytes of cached state per track (both flip copies, every model)."""
        return 2 * sum(pool.state_bytes() for pool in self.pools)

    def _slots_for(self, tracks: list) -> np.ndarray:
        """(2 B,) slots of `tracks` (each: the frame's, then its mirror's), allocating new tracks."""
        for track in tracks:
            if track not in self.slots:
                used = set(self.slots.values())
                first = next(s for s in range(0, 2 * len(self.slots) + 2, 2) if s not in used)
                for pool in self.pools:         # by a quarter: a capped count of tracks stays near its state
                    pool.grow(max(first + 2, pool.capacity * 5 // 4 if first + 2 > pool.capacity else 0))
                self.slots[track] = first
        return np.array([self.slots[t] + m for t in tracks for m in (0, 1)])

    def _pairs(self, frames: np.ndarray) -> np.ndarray:
        """(B, J, 2) -> (2 B, J * 2): each frame and its mirror, flattened as the model reads them."""
        pairs = flip_augment(frames, self.keypoint_symmetry).swapaxes(0, 1)          # (B, 2, J, 2)
        return pairs.reshape(2 * len(frames), -1)

    def _poses(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Per model (2 B, ..., 3 J) outputs -> (B, ..., J, 3): un-flipped, averaged, trajectory added."""
        total = 0
        for out, sym in zip(outputs, self.symmetries):
            out = out.reshape(out.shape[0] // 2, 2, *out.shape[1:-1], -1, 3)
            total = total + unflip_average(out.swapaxes(0, 1), sym)
        return total.astype(np.float32)

    def push(self, frames: dict[Hashable, np.ndarray]) -> dict[Hashable, list[tuple[int, np.ndarray]]]:
        """{track: (J, 2) normalised keypoints of its next frame} -> {track: [(frame, (J_out, 3) pose)]}: the
        poses that became final, frames counted from each track's first push. One batch for all tracks."""
        tracks = list(frames)
        result = {t: [] for t in tracks}
        if not tracks:
            return result
        new = [t for t in tracks if t not in self.slots]
        old = [t for t in tracks if t in self.slots]
        for group, begin in ((new, True), (old, False)):
            if not group:
                continue
            x = self._pairs(np.stack([frames[t] for t in group]).astype(np.float32))
            slots = self._slots_for(group)
            if begin:     # a constant sequence so far: every output, the looked-ahead one too, is the same
                outs = [pool.start(slots, x, self.lead + 1) for pool in self.pools]
            elif self.plans is None:
                outs = [pool.step(slots, x) for pool in self.pools]
            else:
                outs = [pool.step(slots, x, plan)[1] for pool, plan in zip(self.pools, self.plans)]
            for i, t in enumerate(group):
                self.fed[t] = self.fed.get(t, 0) + 1
                self.emitted.setdefault(t, 0)
                self.last[t] = x[2 * i:2 * i + 2]
            poses = self._poses(outs)                  # the pose of frame n - 1 - lookahead
            for i, t in enumerate(group):
                self._emit(t, self.fed[t] - 1 - self.lookahead, poses[i], result)
        return result

    def _emit(self, track, frame: int, pose: np.ndarray, result: dict) -> None:
        if frame >= self.emitted[track]:
            result[track].append((frame, pose))
            self.emitted[track] = frame + 1

    def flush(self, tracks: list | None = None) -> dict[Hashable, list[tuple[int, np.ndarray]]]:
        """End `tracks` (None: all): {track: [(frame, pose)]} for their frames not yet returned, the last
        frame repeated after them as offline lifting pads; their state is dropped."""
        tracks = list(self.slots) if tracks is None else [t for t in tracks if t in self.slots]
        result = {t: [] for t in tracks}
        if tracks and self.tail:
            slots = self._slots_for(tracks)
            fill = np.repeat(np.stack([self.last[t] for t in tracks]).reshape(2 * len(tracks), 1, -1), self.tail, axis=1)
            poses = self._poses([pool.advance(slots, fill, commit=False) for pool in self.pools])  # (B, tail, J, 3)
            for i, t in enumerate(tracks):
                first = self.fed[t] - self.tail                  # the frame of the first flushed output
                for j in range(self.tail):
                    if first + j >= 0:
                        self._emit(t, first + j, poses[i, j], result)
        for t in tracks:
            for d in (self.slots, self.fed, self.emitted, self.last):
                del d[t]
        return result


class ResampledStream:
    """A PoseStream at its model's rate fed from tracks at another rate: each input frame's pose out, equal to
    offline lifting's (pipeline.resample around the model, as lift.Lifter.lift does).

    Model frame k lies at input position k * src / dst (dst: the model's rate); it is fed to the model as soon
    as the input frames around it have arrived, interpolated exactly as resample does (the edge frame held at
    the end, on flush). Input frame j lies at model position j * dst / src; its pose is interpolated from the
    model's poses around it as soon as those are final. `lag`: the most input frames a frame waits for its pose.
    """

    def __init__(self, core: PoseStream, src_fps: float, dst_fps: float):
        self.core, self.src_fps, self.dst_fps = core, float(src_fps), float(dst_fps)
        self.model_at = self.src_fps / self.dst_fps       # input position of model frame k: k * model_at
        self.input_at = self.dst_fps / self.src_fps       # model position of input frame j: j * input_at
        self.tracks: dict[Hashable, _Resampling] = {}

    @property
    def slots(self) -> dict:
        return self.tracks

    @property
    def receptive_field(self) -> int:
        return self.core.receptive_field

    def state_bytes(self) -> int:
        return self.core.state_bytes()

    @functools.cached_property
    def lag(self) -> int:
        """The most input frames between pushing a frame and getting its pose: the schedule of the first
        SCHEDULE_FRAMES input frames (the positions repeat with the rates' ratio), by the same float arithmetic."""
        j = np.arange(SCHEDULE_FRAMES, dtype=np.float64)
        q = j * self.input_at                                     # model positions of the input frames
        needed = np.where(q == np.floor(q), q, np.floor(q) + 1) + self.core.lag    # the model frame to feed
        return int((np.ceil(needed * self.model_at) - j).max())

    def push(self, frames: dict[Hashable, np.ndarray]) -> dict[Hashable, list[tuple[int, np.ndarray]]]:
        """{track: (J, 2) normalised keypoints of its next input frame} -> {track: [(input frame, pose)]}."""
        feeds = {}
        for track, x in frames.items():
            state = self.tracks.setdefault(track, _Resampling())
            state.recent = (state.recent[-1:] if state.recent else []) + [np.asarray(x, np.float32)]
            state.pushed += 1
            feeds[track] = self._ready(state, state.pushed - 1)
        result = {t: [] for t in frames}
        self._feed(feeds, result)
        return result

    def flush(self, tracks: list | None = None) -> dict[Hashable, list[tuple[int, np.ndarray]]]:
        """End `tracks` (None: all): the model frames past the last input frame (that frame held, as resample
        does), the model's flush, and every input frame's pose not yet returned."""
        tracks = list(self.tracks) if tracks is None else [t for t in tracks if t in self.tracks]
        result = {t: [] for t in tracks}
        feeds = {}
        for t in tracks:
            state = self.tracks[t]
            state.total = resampled_length(state.pushed, self.src_fps, self.dst_fps)
            feeds[t] = [state.recent[-1]] * (state.total - state.fed)   # every earlier one was fed on its push
            state.fed = state.total
        self._feed(feeds, result)
        for t, pairs in self.core.flush(tracks).items():
            self._answer(t, pairs, result)
        for t in tracks:
            del self.tracks[t]
        return result

    def _ready(self, state: "_Resampling", newest: int) -> list[np.ndarray]:
        """The model frames not yet fed whose input position is at or before input frame `newest`, interpolated
        from the last two input frames (resample.interpolate_frames: the same arithmetic as offline)."""
        out, k = [], state.fed
        while k * self.model_at <= newest:
            pos = k * self.model_at
            i0 = int(np.floor(pos))
            if i0 == newest:
                x = state.recent[-1]
            else:                                       # between frames newest - 1 and newest
                x = interpolate_frames(np.stack(state.recent[-2:]), np.array([pos - i0]))[0]
            out.append(x)
            k += 1
        state.fed = k
        return out

    def _feed(self, feeds: dict, result: dict) -> None:
        """Push each track's model frames (rounds of one frame per track: one batch each) and answer."""
        for r in range(max((len(v) for v in feeds.values()), default=0)):
            batch = {t: v[r] for t, v in feeds.items() if len(v) > r}
            for t, pairs in self.core.push(batch).items():
                self._answer(t, pairs, result)

    def _answer(self, track, pairs: list, result: dict) -> None:
        """Take the model's final poses of `track` and return its input frames whose poses they complete."""
        state = self.tracks[track]
        for k, pose in pairs:
            state.poses[k] = pose
            state.final = k
        while state.answered < state.pushed:
            j = state.answered
            q = j * self.input_at
            if state.total is not None:                 # flushed: positions held at the last model frame
                q = min(q, state.total - 1)
            a = int(np.floor(q))
            if q == a and a <= state.final:
                pose = state.poses[a]
            elif a + 1 <= state.final:
                pose = interpolate_frames(np.stack([state.poses[a], state.poses[a + 1]]), np.array([q - a]))[0]
            else:
                break
            result[track].append((j, pose))
            state.answered += 1
            for old in [k for k in state.poses if k < a]:
                del state.poses[old]


SCHEDULE_FRAMES = 20000   # input frames whose waiting time ResampledStream.lag takes the largest of


@dataclass
class _Resampling:
    """One track's state in a ResampledStream."""

    pushed: int = 0                  # input frames pushed
    fed: int = 0                     # model frames fed to the PoseStream
    answered: int = 0                # input frames whose pose was returned
    final: int = -1                  # the newest model frame whose pose is final
    total: int | None = None         # model frames in all, once flushed
    recent: list = None              # the last two input frames (normalised (J, 2))
    poses: dict = None               # model frame -> its final pose, those still needed

    def __post_init__(self):
        self.recent = self.recent or []
        self.poses = self.poses or {}
