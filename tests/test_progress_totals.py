"""The per-clip progress bar of extraction has a total: frames from the probe, --fps and --max-frames honoured."""

from __future__ import annotations

import math
import re

import pytest

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import parse_experts
from posekit.io.video import VideoInput
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import expected_frames, run_extraction
from tests.conftest import VTEST


def _options(**kw) -> ExtractOptions:
    return ExtractOptions(experts=tuple(parse_experts("yolo")), estimator=EstimatorConfig(imgsz=320), **kw)


def test_the_total_is_the_declared_frames_thinned_by_fps_and_capped_by_max_frames():
    video = VideoInput(VTEST, VTEST.name)  # 795 frames at 10 fps
    assert expected_frames(video, _options()) == 795
    assert expected_frames(video, _options(max_frames=56)) == 56
    assert expected_frames(video, _options(fps=5)) == math.ceil(795 / 2)
    assert expected_frames(video, _options(fps=5, max_frames=1000)) == math.ceil(795 / 2)


@pytest.mark.slow
def test_the_clip_bar_shows_frames_done_of_the_total(short_clip, tmp_path, capsys):
    summary = run_extraction(short_clip, tmp_path / "out", _options(max_frames=4, batch_size=2), progress=True)
    assert summary.done == 1 and summary.frames == 4
    bars = capsys.readouterr().err
    assert "0/4 frame [" in bars, bars  # stderr is no terminal here: plain lines
    assert re.search(r"\d+frame \[", bars) is None, bars  # the bar without a total read '56frame [...]'
