"""User-caused failures are one line naming the thing and the fix, exit 2, never a traceback."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from tests.conftest import SHARED_DATA

runner = CliRunner()


def assert_one_line(result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    for text in expected:
        assert text in result.output, result.output


@pytest.fixture
def foreign_shard(tmp_path):
    """A Parquet file named like a shard that posekit did not write."""
    folder = tmp_path / "shards"
    folder.mkdir()
    table = pa.table({"clip_id": ["a"]}).replace_schema_metadata({b"posekit.kind": b"skeletons"})
    pq.write_table(table, folder / "skeletons-00000.parquet")
    return folder


def test_keypoints_that_are_not_numbers_in_a_gt_file(tmp_path, foreign_shard):
    gt = json.loads((SHARED_DATA / "gt-dev" / "coco" / "test_coco.json").read_text())
    gt["annotations"][0]["keypoints"] = ["x"] * 51
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    result = runner.invoke(app, ["eval", "--gt", str(tmp_path / "gt.json"), "--shards", str(foreign_shard)])
    annotation = gt["annotations"][0]["id"]
    assert_one_line(result, f"annotation {annotation} holds a value that is not a number", "keypoints, bbox and area")


def test_a_shard_whose_metadata_is_not_posekit_s(foreign_shard):
    shard = foreign_shard / "skeletons-00000.parquet"
    assert_one_line(runner.invoke(app, ["inspect", str(shard)]), f"{shard} is not a posekit shard")
