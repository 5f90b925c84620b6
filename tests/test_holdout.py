"""Held-out spans: frames cut losslessly, and a span past the end refused."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.io.video import iter_frames
from posekit.workflows.protocols.holdout import cut_span


def test_a_cut_span_holds_exactly_the_source_frames(sample_clip, tmp_path):
    out = tmp_path / "span.mkv"
    assert cut_span(sample_clip, out, 10, 5) == 5
    source = [f.image for f in iter_frames(sample_clip, None, 15)][10:]
    cut = [f.image for f in iter_frames(out)]
    assert len(cut) == 5
    assert all(np.array_equal(a, b) for a, b in zip(source, cut))


def test_a_span_after_the_end_is_refused_and_leaves_no_file(sample_clip, tmp_path):
    out = tmp_path / "span.mkv"
    with pytest.raises(ConfigError, match="starts after its end"):
        cut_span(sample_clip, out, 10_000, 5)
    assert not out.exists()
