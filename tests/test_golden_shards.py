"""Shards stay the same for the same inputs and settings: a digest of the sample clip's shards, checked in.

A change that alters the skeletons on purpose (a fixed expert, a new SST-A default) updates
``tests/golden/shard_digests.json`` in the same commit, by running this file with
``POSEKIT_UPDATE_GOLDEN=1``, and says in its message why the output moved.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app

GOLDEN = Path(__file__).parent / "golden" / "shard_digests.json"
SETTINGS = {
    "yolo-1280": ["--experts", "yolo", "--imgsz", "1280"],
    "three-experts-1280": ["--experts", "yolo,yolo-topdown,mediapipe", "--imgsz", "1280", "--keep-proposals"],
}


def table_digest(path: Path) -> str:
    """sha256 of a shard's rows and layout, leaving out where the input lay on disk and the posekit version."""
    table = pq.read_table(path)
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"posekit.version"}
    table = table.drop_columns(["video_path"]).replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_sample_clip_shards_match_their_golden_digest(setting: str, sample_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / setting
    args = ["extract", str(sample_clip), "--out", str(out), "--max-frames", "12", *SETTINGS[setting]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    digests = {p.relative_to(out).as_posix(): table_digest(p) for p in sorted(out.rglob("*.parquet"))}
    assert digests, "the extraction wrote no shard"
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("POSEKIT_UPDATE_GOLDEN"):
        golden[setting] = digests
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    assert digests == golden.get(setting), f"{setting}: shards changed (on purpose? POSEKIT_UPDATE_GOLDEN=1)"
