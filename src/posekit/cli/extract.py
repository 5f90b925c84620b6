"""``posekit extract``: videos -> tracked skeleton shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from posekit.cli.common import EXIT_INPUT_FAILED, console, friendly_errors, setup_logging
from posekit.estimators import EXPERTS, EstimatorConfig, parse_experts
from posekit.pipeline import ExtractOptions, RunSummary, run_extraction
from posekit.pipeline.partition import Partition
from posekit.refine.tracks import AggregationOptions
from posekit.skeleton import LAYOUTS

_EXPERTS_HELP = (
    "Comma-separated experts; with several, SST-A aggregates them into the skeletons. "
    "NAME or NAME:WEIGHTS, e.g. yolo, yolo:runs/best.pt, mediapipe. Known: " + ", ".join(EXPERTS)
)


@friendly_errors
def extract_command(
    input: Annotated[Path, typer.Argument(help="A video file, or a folder searched recursively for videos.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for shards and manifest.json.")],
    experts: Annotated[str, typer.Option(help=_EXPERTS_HELP)] = "yolo",
    device: Annotated[str, typer.Option(help="cpu or cuda:N.")] = "cpu",
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per inference batch.")] = 8,
    imgsz: Annotated[
        int,
        typer.Option(min=32, help="Network input size for full-frame experts; raise it for small people."),
    ] = 640,
    fps: Annotated[float | None, typer.Option(min=0.01, help="Sample frames at this rate (default: all).")] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop each video after N sampled frames.")] = None,
    layout: Annotated[str, typer.Option(help=f"Joint layout of the shards: {', '.join(LAYOUTS)}.")] = "coco17",
    min_joint_score: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Joints an expert scores below this count as missing (NaN)."),
    ] = 0.3,
    mode: Annotated[str, typer.Option(help="SST-A mode: thesis (eq. 3.1 exactly) or robust.")] = "thesis",
    gamma: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="SST-A filter (eq. 3.3): drop poses with confidence C < gamma.")
    ] = 0.18,
    normaliser: Annotated[
        str, typer.Option(help="D_normal of eq. 3.4: head-neck (thesis) or shoulders (authors' code).")
    ] = "head-neck",
    keep_proposals: Annotated[
        bool, typer.Option(help="Also write every expert's raw output to OUT/proposals/.")
    ] = False,
    shard_clips: Annotated[int, typer.Option(min=1, help="Clips per shard file.")] = 64,
    shard_index: Annotated[
        int | None,
        typer.Option(
            min=0, help="Do only part I of --num-shards (e.g. $SLURM_ARRAY_TASK_ID); writes OUT/part-I-of-N/."
        ),
    ] = None,
    num_shards: Annotated[
        int | None, typer.Option(min=1, help="Split the inputs into N parts by a stable hash of the clip id.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Delete the shards and manifest already in OUT first.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Extract tracked 2D skeletons from videos into Parquet shards.

    Every video gets a status in OUT/manifest.json (done, failed with the reason); rerunning
    the same command skips what is done, so an interrupted run resumes where it stopped.
    Exit code: 0 all done, 1 some inputs failed, 2 bad usage.

    Example: posekit extract videos/ --out shards/ --experts yolo,mediapipe --imgsz 1280
    """
    setup_logging(verbose)
    options = ExtractOptions(
        experts=tuple(parse_experts(experts)),
        estimator=EstimatorConfig(device=device, imgsz=imgsz),
        layout=layout,
        batch_size=batch_size,
        fps=fps,
        max_frames=max_frames,
        min_joint_score=min_joint_score,
        keep_proposals=keep_proposals,
        shard_clips=shard_clips,
        aggregation=AggregationOptions(mode=mode, gamma=gamma, normaliser=normaliser),
    )
    try:
        summary = run_extraction(
            input,
            out,
            options,
            overwrite=overwrite,
            progress=progress,
            partition=Partition.from_options(shard_index, num_shards),
        )
    except KeyboardInterrupt:
        console.print("interrupted: finished clips are saved; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_summary(summary)
    if summary.failed:
        raise typer.Exit(EXIT_INPUT_FAILED)


def print_summary(summary: RunSummary) -> None:
    table = Table(title=f"posekit extract -> {summary.out}", show_header=False)
    per_frame = summary.seconds / summary.frames if summary.frames else float("nan")
    rows = [
        ("videos done", str(summary.done)),
        ("videos failed", str(summary.failed)),
        ("videos skipped (already done)", str(summary.skipped)),
        ("frames", str(summary.frames)),
        ("person tracks", str(summary.tracks)),
        ("poses (person-frames kept)", str(summary.poses)),
        ("time", f"{summary.seconds:.1f} s ({per_frame * 1000:.0f} ms/frame)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for reason in summary.failures:
        console.print(f"[red]failed:[/] {reason}", highlight=False, soft_wrap=True)
