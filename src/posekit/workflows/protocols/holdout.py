"""Held-out material for evaluating a self-trained student (thesis 3.3.3).

The student must be scored on frames that never gave it a pseudo label: other videos, or a
later time span of the same video. :func:`cut_span` writes frames ``start .. start+count-1``
of a video to a lossless FFV1 file (RGB, so the pixels round-trip exactly), which the
degradation protocol (:func:`posekit.workflows.protocols.degradation.run_protocol`) then treats as its video.
:func:`used_frames` says which source frames a pseudo-label dataset used, so a bench can
check that the span is disjoint from them.
"""

from __future__ import annotations

from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.io.video import iter_frames, probe_video, write_lossless


def cut_span(source: Path, out: Path, start: int, count: int) -> int:
    """Write source frames ``start .. start + count - 1`` to the lossless video ``out``; return frames written.

    Raises :class:`ConfigError` when the source has fewer than ``start + 1`` frames.
    """
    if start < 0 or count < 1:
        raise ConfigError(f"a held-out span needs start >= 0 and count >= 1; got {start}, {count}")
    frames = iter_frames(source, None, start + count)
    written = write_lossless(out, (f.image for f in frames if f.index >= start), probe_video(source))
    if not written:
        Path(out).unlink(missing_ok=True)
        raise ConfigError(f"{source} has no frame {start}: the held-out span starts after its end")
    return written


def used_frames(dataset_root: Path) -> dict[str, list[int]]:
    """Source frame numbers per clip id that a pseudo-label dataset holds (train and val), from its file names."""
    out: dict[str, list[int]] = {}
    for path in sorted(Path(dataset_root).glob("images/*/*.jpg")):
        stem, _, index = path.stem.rpartition("-")
        out.setdefault(stem, []).append(int(index))
    return {k: sorted(v) for k, v in out.items()}
