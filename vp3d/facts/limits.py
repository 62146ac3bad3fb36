"""What vp3d takes from a file or a stream at most: the bounds that keep hostile input (a frame number of
10**10, a file nested a million deep, a stream naming a million tracks) within bounded memory and time.
Each is a default here, changed by the flag named beside it (vp3d_lift.py), and refused beyond it with
one line (docs/formats.md#limits).
"""
from __future__ import annotations

# A sequence (one person through one video) spans its first to its last detected frame, the frames
# between filled by interpolation; it may span at most SPAN_PER_FRAME x the frames its file lists, or
# SPAN_FLOOR frames whatever the file holds (--max-frames N: N frames). Resampling to the model's frame
# rate may make as many. So a few bytes never become gigabytes: memory follows what the file holds.
SPAN_FLOOR = 100_000          # frames: 33 minutes at 50 fps, about 0.2 GB while reading and lifting
SPAN_PER_FRAME = 10           # frames a sequence may span per frame its file lists (sparse detections)
MAX_KEYPOINTS = 1_000         # keypoints per detection (COCO-WholeBody has 133)

MAX_JSON_BYTES = 1 << 30      # a JSON keypoint file (--max-json-bytes); parsed, it takes a few times this
JSON_DEPTH = 1024             # nesting of JSON arrays and objects: orjson's own limit (no format needs 5)
NPZ_INFLATE = 50              # an .npz member may unpack to this x its compressed size (keypoints: ~1-2x)...
NPZ_INFLATE_FLOOR = 1 << 28   # ...or to 256 MiB whatever its compressed size (a zip bomb stops there)

MAX_LINE_BYTES = 1 << 20      # one line of a live stream (--max-line-bytes): 1 MiB, some 800 people
TRACK_STATE_BYTES = 1 << 28   # the live tracks' cached state by default: 256 MiB (--max-tracks N: N tracks)


def frame_limit(listed: int, max_frames: int | None = None) -> int:
    """The most frames a sequence may span (or be resampled to) when its file lists `listed` frames:
    max_frames where given (--max-frames), else max(SPAN_FLOOR, SPAN_PER_FRAME * listed)."""
    return int(max_frames) if max_frames is not None else max(SPAN_FLOOR, SPAN_PER_FRAME * int(listed))
