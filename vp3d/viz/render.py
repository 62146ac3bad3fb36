"""Animated renders of 3D poses: the 2D input on the left (when known), the 3D skeleton on the right,
ground truth beside it (when known); written as GIF (Pillow) or MP4 (the ffmpeg that imageio-ffmpeg ships).

Drawing is vectorised: every frame's joints are projected at once with numpy, then each frame is a few
dozen Pillow ImageDraw lines on a palette image. The 3D panels show the poses in a Y-up frame (camera
frame turned 180 degrees about x, as the BVH export): each frame's root is centred horizontally and its
lowest joint stands on the floor; the floor grid moves under the body when the poses carry a trajectory;
the view is fitted so that every joint of every frame stays inside the panel. Bones are coloured by side
(left blue, right red) in every panel, over a video too, where each person's joints have their own colour;
frames filled by interpolation (no detection) are drawn pale with hollow joints; a key says so.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError, needs_extra
from vp3d.facts.architecture import H36M_FPS
from vp3d.facts.cameras import CAMERA_TO_YUP
from vp3d.facts.datasets import skeleton_of
from vp3d.facts.skeleton import Skeleton
from vp3d.io.animation import check_output, write_animation
from vp3d.viz.inputs import LEVEL_UP, Keypoints2D

DEFAULT_SIZE = 400          # pixels, each panel is square
DEFAULT_AZIMUTH = 30.0      # degrees about the vertical; 0 looks from where the camera was
ELEVATION = 15.0            # degrees above the horizon
TOP, BOTTOM = 28, 24        # pixels above (titles) and below (frame label) each panel's drawing area
GRID_M = 0.5                # floor grid spacing, metres
GRID_HALF = 3               # grid lines each side of the body
FIT = 0.9                   # the share of a 3D panel's drawing area the body's extent fills (the rest: margin)

# Palette: index -> RGB. Bones and joints are coloured by side, as the skeleton's left/right sets say.
PALETTE = {"background": (255, 255, 255), "floor": (215, 215, 220), "text": (40, 40, 40),
           "left": (31, 119, 180), "right": (214, 39, 40), "centre": (60, 60, 60),
           "left_joint": (20, 80, 130), "right_joint": (150, 25, 25), "centre_joint": (20, 20, 20),
           "frame": (180, 180, 185),
           "left_filled": (165, 200, 228), "right_filled": (238, 165, 165), "centre_filled": (175, 175, 175)}
PEOPLE = ((255, 127, 14), (44, 160, 44), (148, 103, 189), (23, 190, 207), (227, 119, 194), (188, 189, 34),
          (140, 86, 75), (127, 127, 127))   # one colour per person over a video (cycled past 8)
PALETTE.update({f"person{k}": rgb for k, rgb in enumerate(PEOPLE)})
INDEX = {name: i for i, name in enumerate(PALETTE)}
FILLED = np.arange(256)               # palette index -> the one a frame filled by interpolation is drawn in
for _side in ("left", "right", "centre"):
    FILLED[INDEX[_side]] = FILLED[INDEX[f"{_side}_joint"]] = INDEX[f"{_side}_filled"]
KEY = (("left", "left"), ("right", "right"), ("left_filled", "no detection"))   # the colour key: (colour, label)
CUBE = np.stack(np.meshgrid(*[np.arange(0, 256, 51)] * 3, indexing="ij"), -1).reshape(-1, 3)  # video frames' colours


# ---------------------------------------------------------------------------------------------
# Geometry: everything for all frames at once
# ---------------------------------------------------------------------------------------------

def _sides(edges, symmetry) -> np.ndarray:
    """Colour name index per edge (E,): left when an end is a left joint and none is right, etc."""
    left, right = set(symmetry.left), set(symmetry.right)
    out = []
    for a, b in edges:
        ends = {a, b}
        out.append(INDEX["left"] if ends & left and not ends & right else
                   INDEX["right"] if ends & right and not ends & left else INDEX["centre"])
    return np.array(out, dtype=np.int64)


def _joint_colours(n: int, symmetry) -> np.ndarray:
    """Colour index per joint (n,): by side."""
    c = np.full(n, INDEX["centre_joint"])
    c[list(symmetry.left)] = INDEX["left_joint"]
    c[list(symmetry.right)] = INDEX["right_joint"]
    return c


def level(up: np.ndarray) -> np.ndarray:
    """The rotation (3, 3) from the camera frame to a Y-up frame: CAMERA_TO_YUP, then the smallest turn
    that takes `up` (the world's up in the camera frame, (3,)) to +y; the camera's heading is kept."""
    u = CAMERA_TO_YUP @ (np.asarray(up, dtype=np.float64) / np.linalg.norm(up))
    axis, c = np.cross(u, [0.0, 1.0, 0.0]), u[1]
    if c < -1 + 1e-9:
        return np.diag([1.0, -1.0, -1.0]) @ CAMERA_TO_YUP
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return (np.eye(3) + k + k @ k / (1 + c)) @ CAMERA_TO_YUP


def stage(poses: np.ndarray, up: np.ndarray = LEVEL_UP) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame poses (T, J, 3) metres -> (Y-up poses with each frame's root at x = z = 0 and lowest
    joint at y = 0, (T, J, 3); the root's horizontal track (T, 2) (x, z), for the moving floor).
    up: the world's up direction in the camera frame (default: a level camera's, -y)."""
    p = poses.astype(np.float64) @ level(up).T
    track = p[:, 0, [0, 2]]
    floor = p[:, :, 1].min(axis=1, keepdims=True)
    out = p - np.concatenate([track[:, :1], floor, track[:, 1:]], axis=1)[:, None]
    return out, track


@dataclass(frozen=True)
class OrbitCamera:
    """A perspective camera circling a target: azimuth about +y (0 = looking along -z, from where the
    recording camera stood), elevation above the horizon, both degrees; distance metres; focal pixels."""

    target: tuple[float, float, float]
    azimuth: float
    elevation: float
    distance: float
    focal: float
    centre: tuple[float, float]

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        a, e = np.radians(self.azimuth), np.radians(self.elevation)
        eye = np.array(self.target) + self.distance * np.array([np.sin(a) * np.cos(e), np.sin(e),
                                                                np.cos(a) * np.cos(e)])
        fwd = np.array(self.target) - eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        return eye, np.stack([right, up, fwd])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (..., 3) metres -> pixels (..., 2) (x right, y down) and depth (...,) metres."""
        eye, rot = self.basis()
        cam = (points - eye) @ rot.T
        depth = np.maximum(cam[..., 2], 1e-3)
        px = np.stack([self.centre[0] + self.focal * cam[..., 0] / depth,
                       self.centre[1] - self.focal * cam[..., 1] / depth], axis=-1)
        return px, depth


def fit_camera(staged: list[np.ndarray], area: tuple[int, int], azimuth: float,
               elevation: float = ELEVATION) -> OrbitCamera:
    """A camera that frames the staged poses (each (T, J, 3), Y-up, feet at 0) in an area (w, h) pixels: every
    joint of every frame inside it, with a margin; the same for every panel, so that prediction and truth
    compare at a glance. It looks at the body's middle from far enough that no joint comes near it."""
    points = np.concatenate([p.reshape(-1, 3) for p in staged])
    points = points[np.isfinite(points).all(axis=1)]
    height = max(float(np.median(np.concatenate([p[..., 1].max(axis=1) for p in staged]))), 0.5)
    target = np.array([0.0, 0.45 * height, 0.0])
    reach = float(np.linalg.norm(points - target, axis=1).max()) if len(points) else height
    distance = max(4.0 * height, 3.0 * reach)
    unit = OrbitCamera(tuple(target), azimuth, elevation, distance, 1.0, (0.0, 0.0))
    px, _ = unit.project(points) if len(points) else (np.zeros((1, 2)), None)
    lo, hi = px.min(axis=0), px.max(axis=0)
    room = np.asarray(area, np.float64) * FIT
    focal = float(np.min(room / np.maximum(hi - lo, 1e-9)))
    centre = np.asarray(area, np.float64) / 2 - focal * (lo + hi) / 2
    return OrbitCamera(tuple(target), azimuth, elevation, distance, focal, tuple(centre))


def floor_lines(track: np.ndarray) -> np.ndarray:
    """Floor grid segments (T, L, 2, 3), Y-up metres around the centred root: lines GRID_M apart, fixed
    to the world, so that they slide under a body that moves."""
    k = np.arange(-GRID_HALF, GRID_HALF + 1) * GRID_M
    off = np.mod(track, GRID_M)                                    # (T, 2)
    T, n, ext = len(track), len(k), GRID_HALF * GRID_M
    xs = k[None, :] - off[:, :1]                                   # (T, n) lines of constant x
    zs = k[None, :] - off[:, 1:]                                   # (T, n) lines of constant z
    along = np.zeros((T, n, 2, 3))
    along[..., 0] = xs[:, :, None]
    along[..., 2] = [-ext, ext]
    across = np.zeros((T, n, 2, 3))
    across[..., 2] = zs[:, :, None]
    across[..., 0] = [-ext, ext]
    return np.concatenate([along, across], axis=1)


@dataclass
class _Panel:
    """What one panel draws each frame: segments (T, E, 2, 2) pixels with colour indices (T, E),
    points (T, J, 2) pixels with colours (J,), a title; filled_segments (T, E) and filled_points (T, J):
    those of frames filled by interpolation (drawn pale, joints hollow), None: none."""

    title: str
    segments: np.ndarray
    colours: np.ndarray
    points: np.ndarray
    point_colours: np.ndarray
    radius: float
    background: np.ndarray | None = None   # (B, 2, 2) pixel segments drawn every frame (frame box)
    image_box: tuple[int, int, int, int] | None = None   # where the image (w, h) lies in the area: x0, y0, x1, y1
    filled_segments: np.ndarray | None = None
    filled_points: np.ndarray | None = None
    title_colour: int = INDEX["text"]

    def mark_filled(self, filled: np.ndarray | None, first_segment: int = 0) -> "_Panel":
        """Mark frames `filled` (T,) bool (None: none) as filled, for the segments from first_segment on (the
        floor before them stays as it is) and every point."""
        if filled is not None and np.any(filled):
            f = np.asarray(filled, bool)[:, None]
            self.filled_segments = np.zeros(self.colours.shape, bool)
            self.filled_segments[:, first_segment:] = f
            self.filled_points = np.broadcast_to(f, self.points.shape[:2])
        return self


def panel_3d(title: str, poses: np.ndarray, skeleton: Skeleton, camera: OrbitCamera, track: np.ndarray,
             area: tuple[int, int], filled: np.ndarray | None = None) -> _Panel:
    """The 3D skeleton of staged poses (T, J, 3) and the floor, bones drawn far to near, in a drawing area
    (w, h) pixels; filled (T,) bool: the frames filled by interpolation."""
    edges = np.array([(p, j) for j, p in enumerate(skeleton.parents) if p >= 0])
    bone_px, bone_depth = camera.project(poses[:, edges])          # (T, E, 2, 2), (T, E, 2)
    order = np.argsort(-bone_depth.mean(axis=2), axis=1)           # far first
    bone_px = np.take_along_axis(bone_px, order[:, :, None, None], axis=1)
    bone_col = _sides(edges, skeleton.symmetry)[order]
    floor_px, _ = camera.project(floor_lines(track))               # (T, L, 2, 2)
    segments = np.concatenate([floor_px, bone_px], axis=1)
    colours = np.concatenate([np.full(floor_px.shape[:2], INDEX["floor"]), bone_col], axis=1)
    joints_px, _ = camera.project(poses)
    radius = max(2.0, min(area) / 100)
    return _Panel(title, segments, colours, joints_px, _joint_colours(skeleton.num_joints, skeleton.symmetry),
                  radius).mark_filled(filled, floor_px.shape[1])


def panel_2d(title: str, keypoints: Keypoints2D, area: tuple[int, int]) -> _Panel:
    """The 2D input (T, J, 2), y down, fitted (same scale for all frames) into an area (w, h) pixels; its
    filled frames (keypoints.filled) marked."""
    pts = np.asarray(keypoints.points, dtype=np.float64)
    if keypoints.image_size is not None:         # the whole image
        lo, hi = np.zeros(2), np.asarray(keypoints.image_size, dtype=np.float64)
        margin = 0.0
    else:                                        # where the keypoints are, outliers aside
        finite = pts[np.isfinite(pts).all(axis=-1)]
        if len(finite) == 0:
            raise Vp3dError("the 2D keypoints hold no finite point")
        lo, hi = np.percentile(finite, 0.5, axis=0), np.percentile(finite, 99.5, axis=0)
        margin = 0.05
    scale = 0.95 * float(np.min(np.asarray(area) / np.maximum((hi - lo) * (1 + 2 * margin), 1e-6)))
    mid, centre = (lo + hi) / 2, np.asarray(area) / 2
    px = (pts - mid) * scale + centre
    layout = keypoints.layout
    edges = np.array(layout.edges, dtype=np.int64).reshape(-1, 2)
    segs = px[:, edges] if len(edges) else np.zeros((len(px), 0, 2, 2))
    cols = np.broadcast_to(_sides(edges, layout.symmetry), segs.shape[:2])
    box = np.array([lo - (hi - lo) * margin, hi + (hi - lo) * margin])
    box_px = (box - mid) * scale + centre
    (x0, y0), (x1, y1) = box_px
    frame = np.array([[[x0, y0], [x1, y0]], [[x1, y0], [x1, y1]], [[x1, y1], [x0, y1]], [[x0, y1], [x0, y0]]])
    image_box = tuple(int(round(v)) for v in box_px.ravel()) if keypoints.image_size is not None else None
    return _Panel(title, segs, cols, px, _joint_colours(len(layout.names), layout.symmetry),
                  max(2.0, min(area) / 100), frame, image_box).mark_filled(keypoints.filled)


def panel_people(title: str, people: list[Keypoints2D], image_size: tuple[int, int], area: tuple[int, int]) -> _Panel:
    """Several people's 2D keypoints (each (T, J, 2) pixels of one image_size (w, h) image; NaN where a
    person is absent) in one panel, the image fitted into the area: bones coloured by side as in every panel,
    each person's joints in their own colour (PEOPLE), filled frames marked per person."""
    panels = [panel_2d(title, Keypoints2D(k.points, k.layout, image_size, filled=k.filled), area) for k in people]
    colour = [INDEX[f"person{k % len(PEOPLE)}"] for k in range(len(people))]

    def filled(kind: str, shape: str):
        parts = [getattr(p, kind) if getattr(p, kind) is not None else np.zeros(getattr(p, shape).shape[:2], bool)
                 for p in panels]
        return np.concatenate(parts, axis=1) if any(getattr(p, kind) is not None for p in panels) else None
    return _Panel(title, np.concatenate([p.segments for p in panels], axis=1),
                  np.concatenate([np.broadcast_to(p.colours, p.segments.shape[:2]) for p in panels], axis=1),
                  np.concatenate([p.points for p in panels], axis=1),
                  np.concatenate([np.full(len(p.point_colours), c) for p, c in zip(panels, colour)]),
                  panels[0].radius, None, panels[0].image_box, filled("filled_segments", "segments"),
                  filled("filled_points", "points"))


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

def panel_area(size: int) -> tuple[int, int]:
    """The drawing area (w, h) pixels of a size x size panel, between its title and the frame label."""
    return size - 2, size - TOP - BOTTOM


@functools.lru_cache(maxsize=None)
def _palette_bytes() -> tuple[int, ...]:
    """PALETTE's colours at their INDEX, then CUBE's (what video frames are quantised to), padded to 256."""
    flat = [c for rgb in PALETTE.values() for c in rgb] + CUBE.ravel().tolist()
    return tuple(flat + [255] * (768 - len(flat)))


@functools.lru_cache(maxsize=None)
def _palette_image():
    """A 1x1 'P' image holding the palette, for Image.quantize (made once, not per video frame)."""
    from PIL import Image
    pal = Image.new("P", (1, 1))
    pal.putpalette(_palette_bytes())
    return pal


def _quantise(frame: np.ndarray, box: tuple[int, int, int, int]):
    """A video frame (h, w, 3) uint8 RGB scaled to the box (x0, y0, x1, y1) and mapped onto the palette
    (CUBE's colours, dithered): a 'P' image that pastes into a panel."""
    from PIL import Image
    im = Image.fromarray(np.ascontiguousarray(frame)).resize((max(1, box[2] - box[0]), max(1, box[3] - box[1])))
    return im.quantize(palette=_palette_image(), dither=Image.Dither.FLOYDSTEINBERG)


class FrameDrawer:
    """Draws frame t of all panels side by side into a palette ('P') image."""

    def __init__(self, panels: list[_Panel], size: int, label: str = "", first_frame: int = 0):
        from PIL import Image, ImageDraw, ImageFont
        self.panels, self.size, self.label, self.first_frame = panels, size, label, first_frame
        self.area = panel_area(size)
        self.font = ImageFont.load_default(size=max(10, size // 26))
        self.width = max(3, round(size / 110))
        base = Image.new("P", (size * len(panels), size), INDEX["background"])
        base.putpalette(_palette_bytes())
        draw = ImageDraw.Draw(base)
        for i, panel in enumerate(panels):           # what is the same in every frame: titles, boxes, the key
            x = i * size
            draw.text((x + size / 2, 6), panel.title, fill=panel.title_colour, font=self.font, anchor="ma")
            if i:
                draw.line([(x, 0), (x, size)], fill=INDEX["frame"], width=1)
        self._key(draw, base.size[0])
        self.base = base

    def _key(self, draw, width: int) -> None:
        """The colour key (KEY) at the bottom right, where it fits beside the longest frame label."""
        swatch, gap = int(1.5 * self.font.size), self.font.size // 2
        items = [(INDEX[c], text, draw.textlength(text, font=self.font)) for c, text in KEY]
        total = sum(swatch + gap + w + 2 * gap for _, _, w in items)
        if total + draw.textlength(f"{self.label}frame 000000", font=self.font) + 12 > width:
            return
        x, y = width - total, self.size - 5 - self.font.size / 2
        for colour, text, w in items:
            draw.line([(x, y), (x + swatch, y)], fill=colour, width=self.width)
            draw.text((x + swatch + gap, self.size - 5), text, fill=INDEX["text"], font=self.font, anchor="ld")
            x += swatch + gap + w + 2 * gap

    def __call__(self, t: int, image: np.ndarray | None = None):
        """Frame t; image: a video frame (h, w, 3) uint8 RGB under the panel that has an image_box."""
        from PIL import Image, ImageDraw
        im = self.base.copy()
        for i, panel in enumerate(self.panels):      # each panel on its own image: lines stay inside it
            sub = Image.new("P", self.area, INDEX["background"])
            sub.putpalette(_palette_bytes())
            if image is not None and panel.image_box is not None:
                sub.paste(_quantise(image, panel.image_box), panel.image_box[:2])
            draw = ImageDraw.Draw(sub)
            if panel.background is not None:
                for (a, b) in panel.background.tolist():
                    draw.line([tuple(a), tuple(b)], fill=INDEX["frame"], width=1)
            ok = np.isfinite(panel.segments[t]).all(axis=(1, 2))      # missed keypoints: no line
            colours = np.broadcast_to(panel.colours[t], ok.shape)
            if panel.filled_segments is not None:                      # filled frames: pale bones
                colours = np.where(panel.filled_segments[t], FILLED[colours], colours)
            for (a, b), c in zip(panel.segments[t][ok].tolist(), colours[ok].tolist()):
                draw.line([tuple(a), tuple(b)], fill=c, width=1 if c == INDEX["floor"] else self.width)
            r = panel.radius
            ok = np.isfinite(panel.points[t]).all(axis=1)
            hollow = panel.filled_points[t][ok] if panel.filled_points is not None else np.zeros(ok.sum(), bool)
            for (x, y), c, h in zip(panel.points[t][ok].tolist(), panel.point_colours[ok].tolist(), hollow.tolist()):
                if h:                                                  # filled frames: hollow joints
                    draw.ellipse([x - r, y - r, x + r, y + r], outline=c, width=1)
                else:
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=c)
            im.paste(sub, (i * self.size + 1, TOP))
        draw = ImageDraw.Draw(im)
        draw.text((6, self.size - 5), f"{self.label}frame {t + self.first_frame}", fill=INDEX["text"],
                  font=self.font, anchor="ld")
        return im


def render_output(path: str | Path) -> Path:
    """The animation's path, once its suffix names a format and Pillow (drawing, GIF) is installed."""
    path = check_output(path)
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise needs_extra(f"{path}: rendering", "render", "Pillow") from None
    return path


def _skeleton(poses: np.ndarray, what: str) -> Skeleton:
    """The skeleton of poses (T >= 1, J, 3): the one with J joints (facts.datasets: 17 Human3.6M, 15 HumanEva-I);
    Vp3dError otherwise."""
    if poses.ndim != 3 or poses.shape[2] != 3 or len(poses) < 1:
        raise Vp3dError(f"{what} of shape {poses.shape}, expected (T, J, 3)")
    return skeleton_of(poses.shape[1], what)


def _panel_size(size: int) -> int:
    """Pixels per (square) panel, rounded up to a multiple of 16 (video codecs need it)."""
    return int(-(-int(size) // 16) * 16)


@dataclass
class Track:
    """One person of a video: poses (T, J, 3) metres, camera frame, and the 2D keypoints they were lifted
    from (T, J, 2) pixels, whose first_frame places both in the video."""

    name: str
    poses: np.ndarray
    keypoints: Keypoints2D        # its .filled: the frames filled by interpolation (no detection), or None


def _on_timeline(x: np.ndarray, start: int, frames: int) -> np.ndarray:
    """x (T, ...) placed at frames start .. start + T - 1 of a timeline of `frames`, NaN elsewhere."""
    out = np.full((frames, *x.shape[1:]), np.nan)
    out[start:start + len(x)] = x
    return out


def render_over_video(path: str | Path, tracks: list[Track], video: str | Path, fps: float | None = None,
                      size: int = DEFAULT_SIZE, azimuth: float = DEFAULT_AZIMUTH, progress=None) -> int:
    """Write an animation (.gif or .mp4) of one or more people over a video: the left panel is the video's
    own frames (streamed, one in memory) with every track's 2D keypoints drawn over them, one colour per
    person; then one 3D panel per track. Frame i of a track is video frame keypoints.first_frame + i; the
    render runs from the first track's first frame to the last one's end. fps: the animation's rate (None:
    the video's). Returns the frames written."""
    from vp3d.io.video import video_frames, video_info
    path = render_output(path)
    if not tracks:
        raise Vp3dError(f"{video}: no sequences to draw over the video")
    info = video_info(video)
    skeletons = [_skeleton(tr.poses, f"{tr.name}: poses") for tr in tracks]
    for tr in tracks:
        if tr.keypoints.image_size is not None and tuple(tr.keypoints.image_size) != info.size:
            raise Vp3dError(f"{tr.name}: the keypoints are pixels of a {tr.keypoints.image_size[0]}x"
                            f"{tr.keypoints.image_size[1]} image, but {video} is {info.size[0]}x{info.size[1]}")
        if len(tr.keypoints.points) != len(tr.poses):
            raise Vp3dError(f"{tr.name}: {len(tr.keypoints.points)} frames of 2D keypoints, {len(tr.poses)} of poses")
    start = min(tr.keypoints.first_frame for tr in tracks)
    frames = max(tr.keypoints.first_frame + len(tr.poses) for tr in tracks) - start
    size = _panel_size(size)
    staged = [stage(tr.poses) for tr in tracks]
    camera = fit_camera([s for s, _ in staged], panel_area(size), azimuth)
    filled = [None if tr.keypoints.filled is None else
              _on_timeline(np.asarray(tr.keypoints.filled, float), tr.keypoints.first_frame - start, frames) == 1
              for tr in tracks]
    people = [Keypoints2D(_on_timeline(tr.keypoints.points, tr.keypoints.first_frame - start, frames),
                          tr.keypoints.layout, filled=f) for tr, f in zip(tracks, filled)]
    panels = [panel_people("video", people, info.size, panel_area(size))]
    for k, (tr, skeleton, (poses, track), f) in enumerate(zip(tracks, skeletons, staged, filled)):
        at = tr.keypoints.first_frame - start
        panel = panel_3d(tr.name, _on_timeline(poses, at, frames), skeleton, camera, _on_timeline(track, at, frames),
                         panel_area(size), f)
        if len(tracks) > 1:                  # the title in the person's colour, as their joints over the video
            panel.title_colour = INDEX[f"person{k % len(PEOPLE)}"]
        panels.append(panel)
    drawer = FrameDrawer(panels, size, "", start)
    images = video_frames(video, start)
    steps = range(frames)

    def frames_out():
        for t in (progress(steps) if progress else steps):
            yield drawer(t, next(images, None))       # past the video's end: no image under the keypoints
        images.close()

    write_animation(path, frames_out(), fps or info.fps)
    return frames


def render(path: str | Path, poses: np.ndarray, keypoints: Keypoints2D | None = None,
           ground_truth: np.ndarray | None = None, up: np.ndarray = LEVEL_UP, fps: float = H36M_FPS,
           size: int = DEFAULT_SIZE, azimuth: float = DEFAULT_AZIMUTH, title: str = "", first_frame: int = 0,
           progress=None, filled: np.ndarray | None = None) -> int:
    """Write an animation of poses (T, J, 3) metres, camera frame, to `path` (.gif or .mp4); J 17 or 15 (the skeleton
    with that many joints).

    keypoints: the 2D input (T, J', 2), drawn on the left; ground_truth: (T, J, 3) metres, camera
    frame, drawn right of the prediction. up: the world's up direction (3,) in the camera frame, when
    known (a calibrated camera); the default takes the camera as level. size: pixels per (square) panel,
    rounded up to a multiple of 16 (video codecs need it). title, first_frame: the frame label
    ('title  frame N'). progress: wraps the frame iterator (e.g. tqdm). filled: (T,) bool, the frames
    filled by interpolation (no detection), drawn pale in every panel (None: keypoints.filled, where
    given). Returns the frames written.
    """
    path = render_output(path)
    poses = np.asarray(poses)
    T = len(poses)
    skeleton = _skeleton(poses, "poses")
    for what, other in (("2D keypoints", None if keypoints is None else keypoints.points),
                        ("ground truth", ground_truth)):
        if other is not None and len(other) != T:
            raise Vp3dError(f"{what} have {len(other)} frames, the poses {T}")
    if ground_truth is not None and np.shape(ground_truth)[1:] != (skeleton.num_joints, 3):
        raise Vp3dError(f"ground truth of shape {np.shape(ground_truth)}, expected (T, {skeleton.num_joints}, 3)")
    if not (np.isfinite(fps) and fps > 0):
        raise Vp3dError(f"fps must be positive, got {fps}")
    size = _panel_size(size)

    staged = [stage(poses, up)] + ([stage(np.asarray(ground_truth), up)] if ground_truth is not None else [])
    camera = fit_camera([s for s, _ in staged], panel_area(size), azimuth)
    if filled is None and keypoints is not None:
        filled = keypoints.filled
    if filled is not None and len(filled) != T:
        raise Vp3dError(f"filled frames: {len(filled)} flags for {T} frames of poses")
    panels = []
    if keypoints is not None:
        panels.append(panel_2d("2D input", Keypoints2D(keypoints.points, keypoints.layout, keypoints.image_size,
                                                        keypoints.first_frame, filled), panel_area(size)))
    panels.append(panel_3d("3D prediction", staged[0][0], skeleton, camera, staged[0][1], panel_area(size), filled))
    if ground_truth is not None:
        panels.append(panel_3d("ground truth", staged[1][0], skeleton, camera, staged[1][1], panel_area(size)))
    drawer = FrameDrawer(panels, size, f"{title}  " if title else "", first_frame)
    steps = range(T)
    frames = (drawer(t) for t in (progress(steps) if progress else steps))
    write_animation(path, frames, fps)
    return T
