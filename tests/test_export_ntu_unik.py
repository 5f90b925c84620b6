"""``posekit export ntu --normalise unik``: the UNIK authors' data_gen files, equal to what the loader feeds."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.cli.export import export_app
from posekit.core.errors import ConfigError
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.normalise import UNIK_CENTRE
from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.datasets.exports.ntu import NtuOptions
from tests.dataset_formats import ntu_body, ntu_frames, write_ntu_skeleton


@pytest.fixture(scope="module")
def ntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ntu")
    write_synthetic_dataset(out, {"train": 2, "val": 1}, ("waving", "jumping"), (10, 20), "ntu25", 3, with_3d=True)
    return out


def test_unik_export_writes_data_joint_and_label_pkl_equal_to_the_loaders_items(ntu: Path, tmp_path: Path) -> None:
    out = tmp_path / "npy"
    res = CliRunner().invoke(export_app, ["ntu", str(ntu), "--out", str(out), "--normalise", "unik",
                                          "--frames", "30"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for split, n in (("train", 4), ("val", 2)):
        data = np.load(out / f"{split}_data_joint.npy")
        assert data.shape == (n, 3, 30, 25, 2) and data.dtype == np.float32
        names, labels = pickle.loads((out / f"{split}_label.pkl").read_bytes())
        assert labels == np.load(out / f"{split}_label.npy").tolist() and len(names) == n
        loader = SkeletonShardDataset(ntu / split, window=None, coords="3d", normalise="unik", normalise_frames=30)
        assert names == loader.clip_ids
        for i in range(n):
            np.testing.assert_allclose(data[i], loader[i][0].numpy(), atol=1e-6)
        np.testing.assert_allclose(data[:, :, 0, UNIK_CENTRE, 0], 0.0, atol=1e-6)


def test_unik_export_of_2d_keypoints_needs_coordinates_only() -> None:
    with pytest.raises(ConfigError, match="--channels 2"):
        NtuOptions(normalise="unik", coords="screen")
    assert NtuOptions(normalise="unik", channels=2).num_channels == 2


def test_ntu_skeleton_files_import_then_export_as_the_authors_name_and_label_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    folder = tmp_path / "skeletons"
    folder.mkdir()
    one, two = ntu_body(rng, 0.0, 0.05, 20), ntu_body(rng, 0.7, 0.02, 20)
    write_ntu_skeleton(folder / "S001C001P001R001A007.skeleton", ntu_frames([one, two], [range(0, 20), range(4, 20)]))
    write_ntu_skeleton(folder / "S001C001P003R001A060.skeleton", ntu_frames([one], [range(5, 20)]))
    runner = CliRunner()
    assert runner.invoke(app, ["import", "ntu", str(folder), "--out", str(tmp_path / "ds")]).exit_code == 0
    res = runner.invoke(app, ["export", "ntu", str(tmp_path / "ds"), "--out", str(tmp_path / "npy"),
                              "--normalise", "unik", "--frames", "300"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for split, name, label in (("train", "S001C001P001R001A007", 6), ("val", "S001C001P003R001A060", 59)):
        assert pickle.loads((tmp_path / "npy" / f"{split}_label.pkl").read_bytes()) == ([f"{name}.skeleton"], [label])
        data = np.load(tmp_path / "npy" / f"{split}_data_joint.npy")
        assert data.shape == (1, 3, 300, 25, 2)
        np.testing.assert_allclose(data[0, :, 0, UNIK_CENTRE, 0], 0.0, atol=1e-6)
        assert (np.abs(data[0, ..., 0]).sum(axis=(0, 2)) > 0).all()  # the actor's frames replayed to 300
    val = np.load(tmp_path / "npy" / "val_data_joint.npy")[0]
    np.testing.assert_allclose(val[:, 15:30, :, 0], val[:, :15, :, 0], atol=0)  # started late: moved, replayed
    assert (val[..., 1] == 0).all()
