"""``posekit extract``: videos -> tracked skeleton shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from posekit.cli.common import (
    EXIT_INPUT_FAILED,
    console,
    exit_interrupted,
    friendly_errors,
    setup_logging,
    sigterm_as_interrupt,
)
from posekit.cli.options import Group, with_options
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import EXPERTS
from posekit.io.images import ImageInputOptions
from posekit.refine.tracks import AggregationOptions
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.partition import PartitionOptions
from posekit.workflows.extraction.ray_backend import BackendOptions
from posekit.workflows.extraction.run import RunSummary, run_extraction

EXPERTS_PANEL = "Experts"
SSTA_PANEL = "SST-A (thesis 3.3.2), with several experts"
CLUSTER_PANEL = "Cluster (Ray Data actors, or one scheduler array task per part)"
_EXPERTS_HELP = (
    "Comma-separated experts; with several, SST-A aggregates them into the skeletons. "
    "NAME or NAME:WEIGHTS, e.g. yolo, yolo:runs/best.pt, mediapipe. A .pt is read with Ultralytics' safe loading "
    "(weights only: a file naming any other code is refused before it runs); .onnx files are graphs, not code. "
    "Known: " + ", ".join(EXPERTS)
)


@friendly_errors
@with_options(
    images=ImageInputOptions,
    fields=Group(ExtractOptions, mode="values", exclude=("estimator", "aggregation", "images")),
    estimator=Group(EstimatorConfig, panel=EXPERTS_PANEL),
    ssta=Group(AggregationOptions, panel=SSTA_PANEL),
    partition=Group(PartitionOptions, panel=CLUSTER_PANEL),
    backend=Group(BackendOptions, panel=CLUSTER_PANEL),
)
def extract_command(
    input: Annotated[
        Path,
        typer.Argument(
            help="A video or image file, a folder searched recursively, or a .txt list of paths (one a line). "
            "In a folder, every video and image is a clip, except that a folder holding only images (the input "
            "itself or one under it) is one clip, its frames in natural order; --photos makes each image a clip."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for shards and manifest.json.")],
    images: ImageInputOptions,
    fields: dict[str, Any],
    ssta: AggregationOptions,
    estimator: EstimatorConfig,
    partition: PartitionOptions,
    backend: BackendOptions,
    experts: Annotated[str, typer.Option(help=_EXPERTS_HELP)] = "yolo",
    retry_failed: Annotated[
        bool,
        typer.Option(
            help="Redo only the clips OUT/manifest.json records as failed (with the part flags: that part's)."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Delete the shards and manifest already in OUT first.")] = False,
    progress: Annotated[
        bool, typer.Option(help="Show progress: bars on a terminal, elsewhere (a log file) one line every 30 s.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Extract tracked 2D skeletons (and 3D with --3d) from videos into Parquet shards.

    Every video gets a status in OUT/manifest.json (done, failed with the reason); rerunning
    the same command skips what is done, so an interrupted run resumes where it stopped.
    Exit code: 0 all done, 1 some inputs failed, 2 bad usage.

    Example: posekit extract videos/ --out shards/ --experts yolo,mediapipe --imgsz 1280
    On a Ray cluster: posekit extract videos/ --out shards/ --backend ray --ray-address auto
    --workers 8 --num-gpus-per-worker 1 (see docs/cluster.md).
    """
    setup_logging(verbose)
    options = ExtractOptions.from_flags(experts, estimator, ssta, images, fields)
    try:
        with sigterm_as_interrupt():
            summary = run_extraction(
                input,
                out,
                options,
                overwrite=overwrite,
                progress=progress,
                partition=partition.partition(),
                backend=backend.build(),
                retry_failed=retry_failed,
            )
    except KeyboardInterrupt as exc:
        raise exit_interrupted(exc, "finished clips are saved") from None
    print_summary(summary)
    if summary.failed:
        raise typer.Exit(EXIT_INPUT_FAILED)


def print_summary(summary: RunSummary) -> None:
    table = Table(title=f"posekit extract -> {summary.out}", show_header=False)
    per_frame = f" ({summary.seconds / summary.frames * 1000:.0f} ms/frame)" if summary.frames else ""
    rows = [
        ("videos done", str(summary.done)),
        ("videos failed", str(summary.failed)),
        ("videos skipped (already done)", str(summary.skipped)),
        ("duplicate inputs (extracted once)", str(summary.duplicates)),
        ("frames", str(summary.frames)),
        ("person tracks", str(summary.tracks)),
        ("poses (person-frames kept)", str(summary.poses)),
        ("time", f"{summary.seconds:.1f} s{per_frame}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for reason in summary.failures:
        console.print(f"[red]failed:[/] {reason}", highlight=False, soft_wrap=True)
