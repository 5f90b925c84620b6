"""The whole extraction pipeline on a real clip with experts a third-party package declares as entry points.

The fakes (``tests/fake_expert.py``) subclass the real bases; decoding, tracking, the top-down crop loop,
SST-A, shards and the manifest are posekit's own.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from posekit.estimators.registry import EXPERTS, parse_experts
from posekit.io.shards import read_proposals, read_skeletons
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from tests.fake_expert import PEOPLE, figure_in, write_fake_plugin


@pytest.fixture
def plugin_experts(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(write_fake_plugin(site)))
    EXPERTS.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("fake_posekit_plugin", None)
    EXPERTS.refresh()


def test_extraction_runs_entry_point_experts_end_to_end(plugin_experts, short_clip, tmp_path):
    options = ExtractOptions(experts=tuple(parse_experts("fake-detector,fake-topdown")), keep_proposals=True)
    summary = run_extraction(short_clip, tmp_path / "out", options, progress=False)
    assert summary.failed == 0
    (clip,) = read_skeletons(tmp_path / "out")
    assert clip.num_frames == 6 and len(clip.tracks) == 2
    for track in clip.tracks:
        person = int(np.argmin([np.abs(track.keypoints[0] - figure_in(box)).max() for box in PEOPLE[:2]]))
        np.testing.assert_allclose(
            track.keypoints, np.broadcast_to(figure_in(PEOPLE[person]), track.keypoints.shape), atol=1e-3
        )
        assert len(track) == 6
    experts = {frame.expert for frame in read_proposals(tmp_path / "out" / "proposals")}
    assert experts == {"fake-detector", "fake-topdown"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["settings"]["experts"] == ["fake-detector", "fake-topdown"]


def test_a_run_made_with_device_cpu_resumes_under_the_auto_default(plugin_experts, short_clip, tmp_path):
    from posekit.estimators.base import EstimatorConfig

    experts = tuple(parse_experts("fake-detector,fake-topdown"))
    first = run_extraction(
        short_clip, tmp_path / "out", ExtractOptions(experts, EstimatorConfig(device="cpu")), progress=False
    )
    assert first.done == 1
    again = run_extraction(short_clip, tmp_path / "out", ExtractOptions(experts), progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 1, 0)


def test_refine_aggregate_keeps_the_person_filters_of_the_run(plugin_experts, short_clip, tmp_path):
    from typer.testing import CliRunner

    from posekit.cli.app import app
    from posekit.refine.tracks import TrackFilterOptions

    options = ExtractOptions(
        experts=tuple(parse_experts("fake-detector,fake-topdown")),
        keep_proposals=True,
        tracks=TrackFilterOptions(max_persons=1),
    )
    run_extraction(short_clip, tmp_path / "one", options, progress=False)
    assert len(read_skeletons(tmp_path / "one")[0].tracks) == 1
    args = ["refine", "aggregate", "--proposals", str(tmp_path / "one" / "proposals")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    (again,) = read_skeletons(tmp_path / "again")
    assert [t.track_id for t in again.tracks] == [t.track_id for t in read_skeletons(tmp_path / "one")[0].tracks]
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest["settings"]["tracks"] == {"min_track_frames": 1, "max_persons": 1}
    assert manifest["entries"][0]["dropped"]["beyond_max_persons"] == 6
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "both"), "--max-persons", "2"])
    assert result.exit_code == 0, result.output
    assert len(read_skeletons(tmp_path / "both")[0].tracks) == 2


def test_refine_aggregate_writes_the_manifest_entry_extraction_wrote(plugin_experts, short_clip, tmp_path):
    from posekit.refine.tracks import AggregationOptions, TrackFilterOptions
    from posekit.workflows.extraction.reaggregate import aggregate_proposal_shards

    options = ExtractOptions(
        experts=tuple(parse_experts("fake-detector,fake-topdown")),
        keep_proposals=True,
        tracks=TrackFilterOptions(max_persons=1),
    )
    run_extraction(short_clip, tmp_path / "run", options, progress=False)
    aggregate_proposal_shards(tmp_path / "run" / "proposals", tmp_path / "again", AggregationOptions())
    (extracted,) = json.loads((tmp_path / "run" / "manifest.json").read_text())["entries"]
    (again,) = json.loads((tmp_path / "again" / "manifest.json").read_text())["entries"]
    assert "merged_box" in extracted["dropped"]
    for entry in (extracted, again):
        entry.pop("seconds")
        entry.pop("shard")
        entry.pop("proposals_shard")
    assert again == extracted
    (a,), (b,) = read_skeletons(tmp_path / "run"), read_skeletons(tmp_path / "again")
    np.testing.assert_array_equal(a.tracks[0].keypoints, b.tracks[0].keypoints)
