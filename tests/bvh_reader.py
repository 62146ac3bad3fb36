"""An independent BVH reader for the tests: the format as documented (channels applied in the order listed),
not vp3d's writer read backwards; with what the BVH tests compare."""
from __future__ import annotations

import numpy as np

from vp3d.facts.skeleton import h36m_skeleton17

SKEL = h36m_skeleton17()
PARENTS = np.array(SKEL.parents)
NAMES = [n.replace("/", "_") for n in SKEL.names]    # the stated sanitising: 'Neck/Nose' -> 'Neck_Nose'
TO_YUP = np.diag([1.0, -1.0, -1.0])                  # camera (x right, y down, z forward) -> Y up, a rotation


# ---------------------------------------------------------------------------------------------
# An independent reader: the BVH format as documented (channels applied in the order listed)
# ---------------------------------------------------------------------------------------------

def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    m = {"X": [[o, z, z], [z, c, -s], [z, s, c]],
         "Y": [[c, z, s], [z, o, z], [-s, z, c]],
         "Z": [[c, -s, z], [s, c, z], [z, z, o]]}[axis]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def read_bvh_positions(path) -> tuple[dict[str, np.ndarray], float, dict]:
    """Parse a BVH file; returns (joint name -> world positions (T, 3)), frame time, and the hierarchy
    {name: (parent, offset, channels)}."""
    tokens = open(path).read().split()
    i = 0
    joints: dict = {}
    order: list[str] = []
    stack: list[str] = []
    end_count = 0
    while tokens[i] != "MOTION":
        t = tokens[i]
        if t in ("ROOT", "JOINT"):
            name = tokens[i + 1]
            joints[name] = {"parent": stack[-1] if stack else None}
            order.append(name)
            pending = name
            i += 2
        elif t == "End":
            end_count += 1
            pending = f"_end{end_count}"
            joints[pending] = {"parent": stack[-1], "channels": []}
            i += 2
        elif t == "{":
            stack.append(pending)
            i += 1
        elif t == "}":
            stack.pop()
            i += 1
        elif t == "OFFSET":
            joints[stack[-1]]["offset"] = np.array([float(v) for v in tokens[i + 1:i + 4]])
            i += 4
        elif t == "CHANNELS":
            n = int(tokens[i + 1])
            joints[stack[-1]]["channels"] = tokens[i + 2:i + 2 + n]
            i += 2 + n
        else:
            i += 1
    assert tokens[i + 1] == "Frames:" and tokens[i + 3:i + 5] == ["Frame", "Time:"]
    frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
    width = sum(len(joints[n]["channels"]) for n in order)
    motion = np.array(tokens[i + 6:], dtype=np.float64).reshape(frames, width)
    col = 0
    glob, pos = {}, {}
    for name in order:
        j = joints[name]
        values = motion[:, col:col + len(j["channels"])]
        col += len(j["channels"])
        local = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
        trans = np.zeros((frames, 3))
        for k, ch in enumerate(j["channels"]):
            if ch.endswith("rotation"):
                local = local @ axis_rotation(ch[0], values[:, k])
            else:
                trans[:, "XYZ".index(ch[0])] = values[:, k]
        if j["parent"] is None:
            pos[name] = j["offset"] + trans
            glob[name] = local
        else:
            p = j["parent"]
            pos[name] = pos[p] + glob[p] @ j["offset"]
            glob[name] = glob[p] @ local
    return pos, frame_time, joints


def bone_errors(expected: np.ndarray, got: np.ndarray, parents: np.ndarray = PARENTS) -> tuple[np.ndarray, np.ndarray]:
    """Angles (T, J - 1) degrees between expected and read-back bones, and the read-back lengths (T, J - 1)."""
    be = expected[:, 1:] - expected[:, parents[1:]]
    bg = got[:, 1:] - got[:, parents[1:]]
    cos = np.sum(be * bg, -1) / np.linalg.norm(be, axis=-1) / np.linalg.norm(bg, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1))), np.linalg.norm(bg, axis=-1)


def joints_array(positions: dict[str, np.ndarray], names=NAMES) -> np.ndarray:
    return np.stack([positions[n] for n in names], axis=1)
