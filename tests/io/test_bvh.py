"""BVH export: files read back by independent parsers (a small one here, and the bvhio library) must put
every bone where the poses put it (direction within 1 degree, length the per-video median)."""
from __future__ import annotations

import numpy as np
import pytest
from bvh_reader import NAMES, PARENTS, TO_YUP, axis_rotation, bone_errors, joints_array, read_bvh_positions
from one_line_errors import one_line_error

import vp3d_convert
from vp3d.errors import Vp3dError
from vp3d.facts.cameras import h36m_cameras, world_to_camera
from vp3d.facts.skeleton import h36m_skeleton17, kept_joints
from vp3d.io.bvh import write_bvh
from vp3d.io.poses import write_poses_npz
from vp3d.training import synthetic

SKEL = h36m_skeleton17()


# ---------------------------------------------------------------------------------------------
# Poses the tests make
# ---------------------------------------------------------------------------------------------

def synthetic_camera_poses(action: str, frames: int) -> np.ndarray:
    """A synthetic take (articulated skeleton, vp3d.training.synthetic) seen by S9's first camera, (T, 17, 3) m."""
    pos3d, _ = synthetic.generate(["S9"], [action], lengths=frames, noise=False)
    cam = h36m_cameras()["S9"][0]
    world = pos3d["S9"][action][:, kept_joints()]
    return world_to_camera(world, cam.orientation, cam.translation).astype(np.float32)


def random_rotations(rng, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], 1)


def awkward_poses() -> np.ndarray:
    """Camera-frame poses (T, 17, 3) with bones straight up and down (y is down in the camera frame),
    bones folded back onto their parent bone, limbs straight forward, a bone that flips from one frame to
    the next, a whole body upside down, and random orientations of every bone."""
    rng = np.random.default_rng(7)
    lengths = np.array([0, .13, .45, .45, .13, .45, .45, .23, .25, .11, .12, .15, .28, .25, .15, .28, .25])
    up, down, fwd, left = np.array([0, -1.0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, -1.0]), np.array([1.0, 0, 0])
    base = {1: -left, 2: down, 3: down, 4: left, 5: down, 6: down, 7: up, 8: up, 9: up, 10: up,
            11: left, 12: left, 13: left, 14: -left, 15: -left, 16: -left}

    def build(dirs):
        p = np.zeros((17, 3))
        for j in range(1, 17):
            p[j] = p[PARENTS[j]] + lengths[j] * np.asarray(dirs[j], dtype=float) / np.linalg.norm(dirs[j])
        return p + [0.1, 0.2, 4.0]

    frames = [build(base)]
    d = dict(base); d[12] = up; d[13] = up; d[15] = down; d[16] = up          # arm up; forearm back down
    frames.append(build(d))
    d = dict(base); d[13] = -left; d[16] = left; d[3] = up; d[6] = up          # forearms / shins folded back
    frames.append(build(d))
    d = dict(base); d[12] = fwd; d[15] = fwd; d[2] = fwd; d[13] = -fwd          # straight forward (gimbal lock)
    frames.append(build(d))
    d = dict(base); d[3] = up                                                  # shin flips ...
    frames.append(build(d))
    frames.append(build(base))                                                 # ... and back
    d = {j: -v for j, v in base.items()}                                       # upside down
    frames.append(build(d))
    d = dict(base); d[7] = down; d[8] = down                                   # spine hanging down
    frames.append(build(d))
    for R in random_rotations(rng, 12):                                        # every bone anywhere
        dirs = {j: rng.normal(size=3) for j in range(1, 17)}
        frames.append(build(dirs) @ R.T)
    poses = np.stack(frames)
    poses[:, :, :] += rng.normal(0, 1e-3, (len(poses), 1, 3))                 # the root moves a little
    return poses.astype(np.float32)


def expected_lengths(poses: np.ndarray) -> np.ndarray:
    return np.median(np.linalg.norm(poses[:, 1:] - poses[:, PARENTS[1:]], axis=-1), axis=0)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["walking", "sitting_down", "awkward"])
def test_bones_point_where_the_poses_point(tmp_path, case):
    poses = {"walking": lambda: synthetic_camera_poses("Walking", 80),
             "sitting_down": lambda: synthetic_camera_poses("SittingDown", 80),
             "awkward": awkward_poses}[case]()
    path = tmp_path / "motion.bvh"
    write_bvh(path, {"take": poses}, fps=25.0, origin="camera")
    positions, frame_time, _ = read_bvh_positions(path)
    got = joints_array(positions)
    expected = poses.astype(np.float64) @ TO_YUP.T
    angles, lengths = bone_errors(expected, got)
    assert angles.max() < 1.0, f"bone {np.unravel_index(angles.argmax(), angles.shape)}: {angles.max():.4f} deg"
    np.testing.assert_allclose(lengths, np.broadcast_to(expected_lengths(poses), lengths.shape), atol=2e-6)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], atol=2e-6)      # the root where the camera saw it
    assert frame_time == pytest.approx(1 / 25.0)


def test_bvhio_reads_the_same_motion(tmp_path):
    bvhio = pytest.importorskip("bvhio")
    poses = awkward_poses()[:10]
    path = tmp_path / "motion.bvh"
    write_bvh(path, {"take": poses}, origin="camera")
    root = bvhio.readAsHierarchy(str(path))
    got = np.zeros((len(poses), 17, 3))
    for t in range(len(poses)):
        root.loadPose(t, recursive=True)
        for joint, _, _ in root.layout():
            if joint.Name in NAMES:
                p = joint.PositionWorld
                got[t, NAMES.index(joint.Name)] = [p.x, p.y, p.z]
    angles, lengths = bone_errors(poses.astype(np.float64) @ TO_YUP.T, got)
    assert angles.max() < 1.0
    np.testing.assert_allclose(lengths, np.broadcast_to(expected_lengths(poses), lengths.shape), atol=1e-5)


def test_hierarchy_names_branches_and_units(tmp_path):
    poses = synthetic_camera_poses("Walking", 30)
    write_bvh(tmp_path / "m.bvh", {"a": poses}, units="m")
    write_bvh(tmp_path / "cm.bvh", {"a": poses}, units="cm")
    pos_m, _, joints = read_bvh_positions(tmp_path / "m.bvh")
    pos_cm, _, _ = read_bvh_positions(tmp_path / "cm.bvh")
    named = [n for n in joints if not n.startswith("_end")]
    assert set(NAMES) <= set(named) and "Neck_Nose" in named
    # every joint with several children reaches them through zero-length branch joints, one per child
    for j in range(17):
        kids = [NAMES[c] for c in range(17) if PARENTS[c] == j]
        if len(kids) > 1:
            for kid in kids:
                branch = joints[kid]["parent"]
                assert branch == kid + "Joint" and joints[branch]["parent"] == NAMES[j]
                np.testing.assert_array_equal(joints[branch]["offset"], 0)
    np.testing.assert_allclose(joints_array(pos_cm), 100 * joints_array(pos_m), atol=1e-3)
    # Y is up: the head is above the feet for an upright body
    m = joints_array(pos_m)
    assert (m[:, NAMES.index("Head"), 1] > m[:, NAMES.index("RFoot"), 1] + 1.0).all()


def test_a_humaneva_motion_exports_with_its_own_skeleton(tmp_path):
    """15 joints (a HumanEva-I model's output): the skeleton is the one with that many joints, named as it is."""
    from vp3d.facts.cameras import humaneva_cameras
    from vp3d.facts.datasets import dataset
    from vp3d.training import synthetic_humaneva
    pos3d, _ = synthetic_humaneva.generate(["Validate/S1"], ["Jog 1"], lengths=90, seed=1, noise=False)
    cam = humaneva_cameras()["Validate/S1"][1]
    world = next(iter(pos3d["Validate/S1"].values()))
    poses = world_to_camera(world.astype(np.float64), cam.orientation, cam.translation).astype(np.float32)
    write_bvh(tmp_path / "jog.bvh", {"jog": poses}, fps=60.0, origin="camera")
    positions, frame_time, joints = read_bvh_positions(tmp_path / "jog.bvh")
    skel = dataset("humaneva15").skeleton
    got, expected = joints_array(positions, skel.names), poses.astype(np.float64) @ TO_YUP.T
    angles, lengths = bone_errors(expected, got, np.array(skel.parents))
    assert angles.max() < 1.0 and frame_time == pytest.approx(1 / 60)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], atol=2e-6)
    for branch, parent in [("ThoraxJoint", "Pelvis"), ("LHipJoint", "Pelvis"), ("HeadJoint", "Thorax"),
                           ("RShoulderJoint", "Thorax")]:
        assert joints[branch]["parent"] == parent
    assert (got[:, skel.names.index("Head"), 1] > got[:, skel.names.index("RAnkle"), 1] + 1.0).all()   # Y up


def test_floor_origin_stands_on_the_floor(tmp_path):
    poses = synthetic_camera_poses("Walking", 40)
    poses[:, 0] += [0.3, -0.2, 5.0]                       # joint 0 only: the body is built relative to it
    poses[:, 1:] += [0.3, -0.2, 5.0]
    write_bvh(tmp_path / "f.bvh", {"a": poses})           # default origin: the floor
    got = joints_array(read_bvh_positions(tmp_path / "f.bvh")[0])
    np.testing.assert_allclose(got[0, 0, [0, 2]], 0, atol=1e-6)
    assert got[..., 1].min() == pytest.approx(0, abs=1e-5)
    camera = poses.astype(np.float64) @ TO_YUP.T
    np.testing.assert_allclose(got[:, 0] - got[:1, 0], camera[:, 0] - camera[:1, 0], atol=1e-5)  # same trajectory


def test_one_motion_per_file(tmp_path):
    poses = {"a": awkward_poses()[:3], "b": awkward_poses()[3:6]}
    with pytest.raises(Vp3dError, match="one motion.*pick one"):
        write_bvh(tmp_path / "x.bvh", poses)
    with pytest.raises(Vp3dError, match="no sequence named 'c'"):
        write_bvh(tmp_path / "x.bvh", poses, name="c")
    assert not (tmp_path / "x.bvh").exists()
    write_bvh(tmp_path / "x.bvh", poses, name="b")
    got = joints_array(read_bvh_positions(tmp_path / "x.bvh")[0])
    assert len(got) == 3


def test_export_cli(tmp_path, capsys):
    poses = synthetic_camera_poses("Walking", 20)
    src = tmp_path / "poses.npz"
    write_poses_npz(src, {"walk": poses, "other": poses[:5]})
    out = tmp_path / "walk.bvh"
    assert vp3d_convert.main([str(src), "--name", "walk", "-o", str(out), "--fps", "30", "--units", "cm"]) == 0
    positions, frame_time, _ = read_bvh_positions(out)
    angles, lengths = bone_errors(poses.astype(np.float64) @ TO_YUP.T, joints_array(positions))
    assert angles.max() < 1.0 and frame_time == pytest.approx(1 / 30)
    np.testing.assert_allclose(lengths[0], 100 * expected_lengths(poses), rtol=1e-5)


@pytest.mark.parametrize("args, names_file", [
    (["missing.npz", "-o", "x.bvh"], "missing.npz"),
    (["poses.npz", "-o", "x.bvh", "--name", "nope"], "poses.npz"),
    (["poses.npz", "-o", "x.bvh"], "x.bvh"),                     # two sequences, no --name
    (["poses.npz", "-o", "x.fbx", "--name", "a"], "x.fbx"),      # unknown format
])
def test_export_cli_bad_input(tmp_path, capsys, args, names_file):
    write_poses_npz(tmp_path / "poses.npz", {"a": awkward_poses()[:2], "b": awkward_poses()[:3]})
    argv = [str(tmp_path / a) if a.endswith((".npz", ".bvh", ".fbx")) else a for a in args]
    one_line_error(capsys, vp3d_convert.main(argv), names_file)
    assert not list(tmp_path.glob("x.*"))



def test_euler_angles_rebuild_the_rotation_even_at_gimbal_lock():
    from vp3d.io.bvh import matrix_to_euler_zyx
    rng = np.random.default_rng(3)
    z, x = rng.uniform(-180, 180, (2, 40))
    ry = axis_rotation("Y", rng.uniform(-89, 89, 40))
    ry[20:30] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]        # exactly +90 degrees about y: gimbal lock
    ry[30:] = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]          # exactly -90 degrees
    r = np.concatenate([axis_rotation("Z", z) @ ry @ axis_rotation("X", x), random_rotations(rng, 20)])
    angles = np.degrees(matrix_to_euler_zyx(r))
    rebuilt = axis_rotation("Z", angles[:, 0]) @ axis_rotation("Y", angles[:, 1]) @ axis_rotation("X", angles[:, 2])
    np.testing.assert_allclose(rebuilt, r, atol=1e-9)


BLENDER_SCRIPT = '''
import builtins, json, sys
import addon_utils, bpy
path, out = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("io_anim_bvh")
import io_anim_bvh.import_bvh as ib
ib.open = lambda p, m="r", *a, **k: builtins.open(p, m.replace("U", ""), *a, **k)  # some builds pass "rU"
bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=True)          # the defaults: scale 1, -Z forward, Y up
arm = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"][0]
pos = []
for f in range(1, bpy.context.scene.frame_end + 1):
    bpy.context.scene.frame_set(f)
    pos.append({b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones})
json.dump({"fps": bpy.context.scene.render.fps, "pos": pos}, open(out, "w"))
'''


def test_blender_imports_the_motion(tmp_path):
    """Blender's own BVH importer (where Blender is installed; skipped otherwise)."""
    import json
    import shutil
    import subprocess
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("blender is not installed")
    poses = awkward_poses()
    write_bvh(tmp_path / "m.bvh", {"a": poses}, fps=25, origin="camera")
    (tmp_path / "read.py").write_text(BLENDER_SCRIPT)
    subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "-P", str(tmp_path / "read.py"),
                    "--", str(tmp_path / "m.bvh"), str(tmp_path / "out.json")], check=True, capture_output=True,
                   timeout=300)
    result = json.loads((tmp_path / "out.json").read_text())
    got = np.array([[frame[n] for n in NAMES] for frame in result["pos"][:len(poses)]])
    # camera (x right, y down, z forward) -> BVH (x, -y, -z) -> Blender's Z up, -Y forward: (x, z, -y)
    expected = np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1).astype(np.float64)
    angles, lengths = bone_errors(expected, got)
    assert angles.max() < 1.0 and result["fps"] == 25
    np.testing.assert_allclose(lengths, np.broadcast_to(expected_lengths(poses), lengths.shape), atol=1e-5)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], atol=1e-5)


def test_floor_origin_puts_the_files_own_lowest_joint_on_the_floor(tmp_path):
    """Predicted bones change length from frame to frame, the BVH skeleton's do not (the medians): the floor is
    where the BVH skeleton's lowest joint reaches, not the predictions' (which put it 1 cm off on real files)."""
    rng = np.random.default_rng(3)
    poses = synthetic_camera_poses("Walking", 40) + [0.0, 0.0, 5.0]
    poses[:, 1:] += rng.normal(0, 0.02, poses[:, 1:].shape)            # bone lengths vary by centimetres
    write_bvh(tmp_path / "f.bvh", {"a": poses})
    got = joints_array(read_bvh_positions(tmp_path / "f.bvh")[0])
    assert got[..., 1].min() == pytest.approx(0, abs=2e-6)
    predicted = poses.astype(np.float64) @ TO_YUP.T
    floor = predicted[..., 1].min() - predicted[0, 0, 1] + got[0, 0, 1]     # where the predictions' lowest point is
    assert abs(floor) > 1e-4                                               # the old rule misses by that much
