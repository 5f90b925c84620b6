from pathlib import Path

import pytest

from posekit.core.files import atomic_path, atomic_write_text, temporary_sibling


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half of the ne")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_a_folder_is_written_whole_or_removed(tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "data.yaml").write_text("names: [person]")
    assert (out / "data.yaml").is_file()
    with pytest.raises(OSError), atomic_path(tmp_path / "other") as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("x")
        raise OSError("disk full")
    assert not (tmp_path / "other").exists() and not temporary_sibling(tmp_path / "other").exists()


def test_fsync_write_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shard.parquet"
    path.write_bytes(b"old")
    with atomic_path(path, fsync=True) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and not temporary_sibling(path).exists()
