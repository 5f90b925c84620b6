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
from posekit.workflows.extraction.driver import ExtractOptions, run_extraction
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
