"""``posekit viz``: a clip's skeletons drawn on its video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.core.errors import ShardError
from posekit.io.outputs import check_output_file
from posekit.io.overlay import write_overlay
from posekit.io.shards import iter_skeleton_clips


@friendly_errors
def viz_command(
    clip: Annotated[
        str,
        typer.Argument(help="Clip id (as in the shards: the video's path relative to the input) or video file."),
    ],
    shards: Annotated[Path, typer.Option(help="Skeletons shard file or folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Overlay video to write (.mp4).")],
    video: Annotated[
        Path | None,
        typer.Option(help="The source video, image or folder of frames, if it moved since extraction."),
    ] = None,
) -> None:
    """Draw a clip's tracked skeletons on its video, image or folder of frames, into an MP4: one colour per track
    (never shared by people seen together), its #id above the head."""
    setup_logging()
    check_output_file(out, "--out")
    wanted = Path(clip)
    for candidate, info in iter_skeleton_clips(shards):
        if candidate.clip_id in (clip, wanted.name) or Path(candidate.video_path) == wanted:
            frames = write_overlay(candidate, info.layout, out, video)
            console.print(f"wrote {out} ({frames} frames, {len(candidate.tracks)} tracks)")
            return
    raise ShardError(f"no clip {clip!r} in {shards}; `posekit inspect {shards} --clips` lists what is there")
