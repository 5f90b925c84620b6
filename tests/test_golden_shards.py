"""Shards stay the same for the same inputs and settings: the sample clip's shards, checked in.

``tests/golden/<setting>/`` holds the shards of each setting (without ``video_path``, which says where the
input lay on disk, and the posekit version). A new run must have the same schema, the same rows, track ids,
frame indices and expert choices, and every float within :data:`FLOAT_TOLERANCE`: on the machine that
wrote them the shards are the same bytes, but another CPU's vector units round PyTorch's sums differently
(~1e-4 px), which is not a changed result.

A change that alters the skeletons on purpose (a fixed expert, a new SST-A default) rewrites the golden
shards in the same commit, by running this file with ``POSEKIT_UPDATE_GOLDEN=1``, and says in its message
why the output moved.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = {
    "yolo-1280": ["--experts", "yolo", "--imgsz", "1280"],
    "three-experts-1280": ["--experts", "yolo,yolo-topdown,mediapipe", "--imgsz", "1280", "--keep-proposals"],
}
PIXEL_TOLERANCE = 0.25
"""Largest difference allowed between a joint or box coordinate of the run and of the golden shard (pixels).

Package releases move the top-down experts' joints: on a fresh install (torch 2.14, ultralytics 8.4,
numpy 2.4) MediaPipe's and yolo-topdown's joints on the sample clip moved by up to 0.074 px (boxes by
6e-5 px); a joint moved by 0.5 px still fails."""
SCORE_TOLERANCE = 0.01
"""The same for every other float (joint and box scores, C: up to 0.002 apart across those releases)."""
PIXEL_FIELDS = (".keypoints", ".boxes")


def comparable_table(path: Path) -> pa.Table:
    """A shard's rows and layout, leaving out where the input lay on disk and the posekit version."""
    table = pq.read_table(path)
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"posekit.version"}
    return table.drop_columns(["video_path"]).replace_schema_metadata(metadata)


def first_difference(run: Any, golden: Any, where: str) -> str | None:
    """Where two shard values first differ (floats beyond :data:`PIXEL_TOLERANCE` in joint and box fields,
    :data:`SCORE_TOLERANCE` elsewhere), or None."""
    if isinstance(golden, float) and isinstance(run, float):
        tolerance = PIXEL_TOLERANCE if any(f in where for f in PIXEL_FIELDS) else SCORE_TOLERANCE
        if math.isclose(run, golden, rel_tol=0.0, abs_tol=tolerance) or (math.isnan(run) and math.isnan(golden)):
            return None
        return f"{where}: {run!r} != {golden!r}"
    if isinstance(golden, dict) and isinstance(run, dict):
        if run.keys() != golden.keys():
            return f"{where}: fields {sorted(run)} != {sorted(golden)}"
        found = (first_difference(run[k], golden[k], f"{where}.{k}") for k in golden)
        return next((d for d in found if d), None)
    if isinstance(golden, list) and isinstance(run, list):
        if len(run) != len(golden):
            return f"{where}: {len(run)} items != {len(golden)}"
        found = (first_difference(r, g, f"{where}[{i}]") for i, (r, g) in enumerate(zip(run, golden)))
        return next((d for d in found if d), None)
    return None if run == golden else f"{where}: {run!r} != {golden!r}"


def shard_difference(run: pa.Table, golden: pa.Table) -> str | None:
    """What first differs between a shard of the run and its golden copy, or None when they agree."""
    if not run.schema.equals(golden.schema, check_metadata=True):
        return f"schema: {run.schema} != {golden.schema}"
    return first_difference(run.to_pylist(), golden.to_pylist(), "rows")


def test_shard_difference_ignores_rounding_and_names_a_moved_joint() -> None:
    golden = pa.table({"clip_id": ["a"], "keypoints": [[[10.0, 20.0]]], "source": [[1]]})
    rounded = pa.table({"clip_id": ["a"], "keypoints": [[[10.07, 19.93]]], "source": [[1]]})
    moved = pa.table({"clip_id": ["a"], "keypoints": [[[10.0, 20.5]]], "source": [[1]]})
    other_expert = pa.table({"clip_id": ["a"], "keypoints": [[[10.0, 20.0]]], "source": [[2]]})
    assert shard_difference(rounded, golden) is None
    assert shard_difference(moved, golden) == "rows[0].keypoints[0][1]: 20.5 != 20.0"
    assert shard_difference(other_expert, golden) == "rows[0].source[0]: 2 != 1"
    assert shard_difference(golden.drop_columns(["source"]), golden).startswith("schema")
    scores = pa.table({"clip_id": ["a"], "joint_scores": [[0.9]]})
    assert shard_difference(pa.table({"clip_id": ["a"], "joint_scores": [[0.898]]}), scores) is None
    assert shard_difference(pa.table({"clip_id": ["a"], "joint_scores": [[0.85]]}), scores) is not None


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_sample_clip_shards_match_their_golden_copy(setting: str, sample_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / setting
    args = ["extract", str(sample_clip), "--out", str(out), "--max-frames", "12", *SETTINGS[setting]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    shards = {p.relative_to(out).as_posix(): comparable_table(p) for p in sorted(out.rglob("*.parquet"))}
    assert shards, "the extraction wrote no shard"
    golden_dir = GOLDEN / setting
    if os.environ.get("POSEKIT_UPDATE_GOLDEN"):
        shutil.rmtree(golden_dir, ignore_errors=True)
        for name, table in shards.items():
            (golden_dir / name).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, golden_dir / name)
    golden = {p.relative_to(golden_dir).as_posix(): pq.read_table(p) for p in sorted(golden_dir.rglob("*.parquet"))}
    assert sorted(shards) == sorted(golden), f"{setting}: other shards than {sorted(golden)}"
    for name, table in shards.items():
        difference = shard_difference(table, golden[name])
        assert difference is None, f"{setting}/{name} changed: {difference} (on purpose? POSEKIT_UPDATE_GOLDEN=1)"
