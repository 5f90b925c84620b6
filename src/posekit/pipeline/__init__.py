"""Video decoding, tracking and the extraction driver (single process, or Ray with ``ray_backend``)."""

from posekit.pipeline.extract import (
    Backend,
    ClipOutcome,
    ExtractOptions,
    LocalBackend,
    RunSummary,
    extract_clip,
    run_extraction,
)
from posekit.pipeline.video import find_videos, iter_frames, probe_video

__all__ = [
    "Backend",
    "ClipOutcome",
    "ExtractOptions",
    "LocalBackend",
    "RunSummary",
    "extract_clip",
    "find_videos",
    "iter_frames",
    "probe_video",
    "run_extraction",
]
