"""Video decoding, tracking and the extraction driver."""

from posekit.pipeline.extract import ExtractOptions, RunSummary, extract_clip, run_extraction
from posekit.pipeline.video import find_videos, iter_frames, probe_video

__all__ = [
    "ExtractOptions",
    "RunSummary",
    "extract_clip",
    "find_videos",
    "iter_frames",
    "probe_video",
    "run_extraction",
]
