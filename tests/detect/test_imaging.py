"""The detector's image arithmetic against OpenCV (what MMDeploy's SDK, MMPose and mmdet run: cv2.resize and
cv2.warpAffine with the warp matrix MMPose's get_warp_matrix defines by three point pairs) and hand values."""
import numpy as np
import pytest

from vp3d.detect import imaging

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the [test] extra) is the oracle here")


@pytest.mark.parametrize("src, dst", [((53, 37), (160, 120)), ((160, 120), (53, 37)), ((64, 48), (640, 480)),
                                      ((1920, 1080), (640, 360))])
def test_resize_is_opencvs_bilinear(src, dst):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (src[1], src[0], 3)).astype(np.float32)
    expected = cv2.resize(image, dst, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(imaging.resize(image, dst), expected, atol=1e-3)


def test_letterbox_resizes_by_the_smaller_ratio_top_left_and_pads():
    frame = np.random.default_rng(1).integers(0, 256, (120, 160, 3), np.uint8)
    image, scale = imaging.letterbox(frame, (640, 640), 114)
    # 160x120 -> s = min(640/160, 640/120) = 4: 640x480 at the top, rows 480.. the pad
    np.testing.assert_allclose(scale, [4, 4])
    np.testing.assert_allclose(image[:480], cv2.resize(frame.astype(np.float32), (640, 480)), atol=1e-3)
    assert (image[480:] == 114).all()
    image, scale = imaging.letterbox(np.zeros((1080, 1920, 3), np.uint8), (640, 640), 114)
    np.testing.assert_allclose(scale, [640 / 1920, 360 / 1080])      # round(1080 / 3) = 360 rows
    assert (image[:360] == 0).all() and (image[360:] == 114).all()


def mmpose_warp(center, scale, size):
    """MMPose's get_warp_matrix (rotation 0) written from its definition: three point pairs, a the box centre
    to the output's centre, b the point half the box's width above a to the point half the output's width
    above it, and the third b + (a - b) turned 90 degrees ((x, y) -> (-y, x)) on both sides."""
    def third(a, b):
        d = a - b
        return b + [-d[1], d[0]]
    w, h = size
    a, b = np.asarray(center, np.float64), np.asarray(center, np.float64) + [0, -scale[0] / 2]
    c, e = np.array([w / 2, h / 2]), np.array([w / 2, h / 2 - w / 2])
    return cv2.getAffineTransform(np.float32([a, b, third(a, b)]), np.float32([c, e, third(c, e)]))


def test_center_scale_pads_by_1_25_and_fixes_the_aspect():
    centers, scales = imaging.center_scale(np.array([[10, 20, 50, 100], [0, 0, 90, 30]]), 1.25, 192 / 256)
    np.testing.assert_allclose(centers, [[30, 60], [45, 15]])
    # box 40x80 -> 50x100 -> width grown to 100 * 0.75 = 75; box 90x30 -> 112.5x37.5 -> height 112.5 / 0.75
    np.testing.assert_allclose(scales, [[75, 100], [112.5, 150]])


def test_crop_is_warpaffine_with_mmposes_matrix_and_maps_back():
    rng = np.random.default_rng(2)
    frame = rng.uniform(0, 255, (120, 160, 3)).astype(np.float32)
    boxes = np.array([[30, 20, 70, 100], [100, -10, 170, 40]], np.float64)      # the second reaches outside
    centers, scales = imaging.center_scale(boxes, 1.25, 192 / 256)
    crops = imaging.crop(frame, centers, scales, (192, 256))
    for n in range(2):
        m = mmpose_warp(centers[n], scales[n], (192, 256))
        expected = cv2.warpAffine(frame, m, (192, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=0)
        np.testing.assert_allclose(crops[n], expected, atol=0.05)     # OpenCV's 1/32-pixel interpolation table
        points = rng.uniform(0, 190, (17, 2))
        back = cv2.transform(points[None], cv2.invertAffineTransform(m))[0]
        np.testing.assert_allclose(imaging.to_frame(points[None], centers[n:n + 1], scales[n:n + 1], (192, 256))[0],
                                   back, atol=1e-3)


def test_normalize_orders_channels_then_scales():
    images = np.array([[[[10.0, 20.0, 30.0]]]])                   # one RGB pixel
    rgb = imaging.normalize(images, (1, 2, 3), (2, 4, 8), rgb=True)
    bgr = imaging.normalize(images, (1, 2, 3), (2, 4, 8), rgb=False)
    np.testing.assert_allclose(rgb[0, :, 0, 0], [(10 - 1) / 2, (20 - 2) / 4, (30 - 3) / 8])
    np.testing.assert_allclose(bgr[0, :, 0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 8])
    assert rgb.shape == (1, 3, 1, 1) and rgb.dtype == np.float32
    np.testing.assert_allclose(imaging.normalize(images, None, None, rgb=False)[0, :, 0, 0], [30, 20, 10])


def test_decode_simcc_takes_argmax_over_split_ratio_and_the_smaller_maximum():
    x = np.zeros((1, 2, 384))
    y = np.zeros((1, 2, 512))
    x[0, 0, 101], y[0, 0, 300] = 0.9, 0.6
    x[0, 1, 0], y[0, 1, 511] = 0.2, 0.7
    points, scores = imaging.decode_simcc(x, y, 2.0)
    np.testing.assert_allclose(points[0], [[50.5, 150], [0, 255.5]])
    np.testing.assert_allclose(scores[0], [0.6, 0.2])
