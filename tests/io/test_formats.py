"""Pose files by suffix: the writer and reader tables, where lifted poses go."""
import numpy as np
import pytest

from vp3d.errors import Vp3dError
from vp3d.io.formats import output_suffix, read_poses, write_outputs, write_poses


def test_writers_refuse_unknown_suffixes_and_other_skeletons(tmp_path):
    from vp3d.io.formats import write_poses
    with pytest.raises(Vp3dError, match=r"unknown output format '.txt' \(expected .npz, .json, .csv, .bvh\)"):
        write_poses(tmp_path / "p.txt", {"a": np.zeros((1, 17, 3))})
    for suffix in (".json", ".csv"):
        with pytest.raises(Vp3dError, match="16 joints, expected a skeleton vp3d knows: 17 .Human3.6M., 15"):
            write_poses(tmp_path / f"p{suffix}", {"a": np.zeros((1, 16, 3))})
        assert not (tmp_path / f"p{suffix}").exists()


def _poses(seed=0):
    rng = np.random.default_rng(seed)
    return {"walk": rng.normal(size=(4, 17, 3)).astype(np.float32), "../run 2": rng.normal(size=(2, 17, 3)).astype(np.float32)}


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_what_each_writer_writes_its_reader_reads_back(tmp_path, suffix):
    poses = _poses()
    assert write_outputs(tmp_path / f"all{suffix}", poses) == [tmp_path / f"all{suffix}"]
    back = read_poses(tmp_path / f"all{suffix}")
    assert list(back) == list(poses)
    for name in poses:
        np.testing.assert_array_equal(back[name], poses[name])
    write_poses(tmp_path / f"one{suffix.upper()}", poses, name="walk")          # suffixes in any case
    assert list(read_poses(tmp_path / f"one{suffix.upper()}")) == ["walk"]


@pytest.mark.parametrize("name, fragment", [
    ("lifted.bvh", "a BVH file holds joint rotations, not the lifted positions"),
    ("lifted.txt", "unknown poses file type '.txt' (expected .npz, .json, .csv)"),
    ("lifted", "unknown poses file type '(no suffix)'"),
])
def test_read_poses_refuses_bvh_and_unknown_suffixes_in_one_line(tmp_path, name, fragment):
    (tmp_path / name).write_text("x")
    with pytest.raises(Vp3dError) as e:
        read_poses(tmp_path / name)
    assert str(e.value).startswith(f"{tmp_path / name}: ") and fragment in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("out, expected", [("p.npz", ".npz"), ("p.JSON", ".json"), ("a/b.csv", ".csv"), ("p.bvh", ".bvh"),
                                           ("poses", None), ("poses/", None), ("v1.2/", None)])
def test_output_suffix_names_a_file_or_a_folder(out, expected):
    assert output_suffix(out) == expected


@pytest.mark.parametrize("out", ["p.txt", "p.npy", "v1.2"])
def test_output_suffix_refuses_other_suffixes_before_any_work(out):
    with pytest.raises(Vp3dError, match=r"unknown output format .*expected a file ending in .npz, .json, .csv, .bvh, "
                                        r"or a folder \(a path without a suffix, or ending in /\)"):
        output_suffix(out)


def test_a_folder_output_gets_one_file_per_video_all_inside_it(tmp_path):
    poses = _poses() | {"..": np.zeros((1, 17, 3), np.float32), "run_2": np.ones((1, 17, 3), np.float32)}
    out = tmp_path / "out"
    paths = write_outputs(out, poses, fmt="json")
    assert len(set(paths)) == len(poses) and all(p.parent == out and p.suffix == ".json" for p in paths)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]                 # nothing written beside it
    for (name, p), path in zip(poses.items(), paths, strict=True):
        np.testing.assert_array_equal(read_poses(path)[name], p)


def test_write_outputs_refusals(tmp_path):
    with pytest.raises(Vp3dError, match="the suffix says npz, the format asked for is csv"):
        write_outputs(tmp_path / "p.npz", _poses(), fmt="csv")
    (tmp_path / "file").write_text("x")
    with pytest.raises(Vp3dError, match="file: exists and is not a folder"):
        write_outputs(tmp_path / "file", _poses())
    with pytest.raises(Vp3dError, match=r"\.npz output takes no option units"):
        write_outputs(tmp_path / "q.npz", _poses(), units="cm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
