import numpy as np

from vp3d.facts.cameras import (
    camera_to_world,
    h36m_cameras,
    image_coordinates,
    normalize_screen_coordinates,
    project_to_2d,
    qinverse,
    qrot,
    world_to_camera,
)


def quat_to_matrix(q):
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_calibration_has_the_test_subjects_cameras():
    cams = h36m_cameras()
    assert {"S1", "S5", "S6", "S7", "S8", "S9", "S11"} <= set(cams)
    assert [c.id for c in cams["S9"]] == ["54138969", "55011271", "58860488", "60457274"]
    assert all(np.isclose(np.linalg.norm(c.orientation), 1, atol=1e-5) for c in cams["S11"])
    assert all(3 < np.linalg.norm(c.translation) < 7 for c in cams["S9"])    # metres from the origin


def test_qrot_matches_rotation_matrix():
    rng = np.random.default_rng(0)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    v = rng.normal(size=(10, 3))
    np.testing.assert_allclose(qrot(q, v), v @ quat_to_matrix(q).T, atol=1e-12)
    np.testing.assert_allclose(qrot(qinverse(q), qrot(q, v)), v, atol=1e-12)


def test_world_camera_round_trip():
    cam = h36m_cameras()["S11"][2]
    x = np.random.default_rng(1).normal(0, 1, (5, 17, 3))
    np.testing.assert_allclose(camera_to_world(world_to_camera(x, cam.orientation, cam.translation),
                                               cam.orientation, cam.translation), x, atol=1e-5)


def test_world_origin_is_in_front_of_every_camera():
    assert {s: len(c) for s, c in h36m_cameras().items()} == {s: 4 for s in ("S1", "S5", "S6", "S7", "S8", "S9", "S11")}
    for cams in h36m_cameras().values():
        for cam in cams:
            assert world_to_camera(np.zeros(3), cam.orientation, cam.translation)[2] > 3


def test_screen_normalisation_round_trip_and_values():
    x = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    n = normalize_screen_coordinates(x, 1000, 1002)
    np.testing.assert_allclose(n[0], [-1, -1.002])
    np.testing.assert_allclose(n[1], [1, 1.002])
    np.testing.assert_allclose(n[2], [0, 0], atol=1e-12)
    np.testing.assert_allclose(image_coordinates(n, 1000, 1002), x)


def test_projection_of_the_optical_axis_is_the_principal_point():
    cam = h36m_cameras()["S9"][0]
    np.testing.assert_allclose(project_to_2d(np.array([0, 0, 5.0]), cam), cam.center, atol=1e-4)
    # off-axis points land on the correct side, and distortion is small near the centre
    px = project_to_2d(np.array([0.1, -0.1, 5.0]), cam)
    assert px[0] > cam.center[0] and px[1] < cam.center[1]
    np.testing.assert_allclose(px, cam.center + cam.focal_length * [0.02, -0.02], rtol=1e-3)
