"""``posekit build-dataset posetics|posecap``: labelled videos -> a documented skeleton dataset."""

from __future__ import annotations

import inspect
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
from posekit.cli.extract import CLUSTER_PANEL
from posekit.cli.options import Group, with_options
from posekit.estimators.base import EstimatorConfig
from posekit.io.images import ImageInputOptions
from posekit.refine.tracks import AggregationOptions
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import BuildResult, build_dataset
from posekit.workflows.datasets.inputs import KINETICS_PATTERN, read_collection
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.partition import PartitionOptions
from posekit.workflows.extraction.ray_backend import BackendOptions

build_app = typer.Typer(
    help=(
        "Build a skeleton pre-training dataset from labelled videos (thesis 3.5 Posetics, 6.3.1 PoseCap).\n\n"
        "Example: posekit build-dataset posetics --videos kinetics/ --annotations k400.csv --out posetics/"
    ),
    no_args_is_help=True,
    add_completion=False,
)

_EXTRACT = "Extraction (ignored with --shards)"


VideosOption = Annotated[
    Path | None,
    typer.Option(help="Folder of the videos; alone, a folder per class (CLASS/clip.mp4 or SPLIT/CLASS/clip.mp4)."),
]
AnnotationsOption = Annotated[
    Path | None,
    typer.Option(
        help="Kinetics-style CSV (label,youtube_id,time_start,time_end[,split]) or a list file "
        "('path<TAB>label[<TAB>split]' per line)."
    ),
]
PatternOption = Annotated[
    str, typer.Option(help="How a CSV row names its video file (stem or relative path, Python format fields).")
]
ShardsOption = Annotated[
    Path | None,
    typer.Option(help="Use existing skeletons shards (clip ids matched to the annotations) instead of extracting."),
]
CaptionsOption = Annotated[
    Path | None,
    typer.Option(help="Descriptions per clip (CSV clip_id,text / JSON / JSONL); default: templates from labels."),
]


def _command(kind: str):
    @with_options(
        build=Group(BuildOptions, mode="values"),
        fields=Group(
            ExtractOptions,
            mode="values",
            panel=_EXTRACT,
            exclude=("estimator", "aggregation", "images", "shard_clips", "keep_proposals"),
        ),
        estimator=Group(EstimatorConfig, panel=_EXTRACT),
        ssta=Group(AggregationOptions, panel=_EXTRACT),
        images=Group(ImageInputOptions, panel=_EXTRACT),
        partition=Group(PartitionOptions, panel=CLUSTER_PANEL),
        backend=Group(BackendOptions, panel=CLUSTER_PANEL),
    )
    def command(
        out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder: train/, val/, dataset.json.")],
        build: dict[str, Any],
        fields: dict[str, Any],
        estimator: EstimatorConfig,
        ssta: AggregationOptions,
        images: ImageInputOptions,
        partition: PartitionOptions,
        backend: BackendOptions,
        videos: VideosOption = None,
        annotations: AnnotationsOption = None,
        pattern: PatternOption = KINETICS_PATTERN,
        shards: ShardsOption = None,
        captions: CaptionsOption = None,
        experts: Annotated[str, typer.Option(help="As for posekit extract.", rich_help_panel=_EXTRACT)] = "yolo",
        assemble_only: Annotated[
            bool, typer.Option(help="Skip extraction; assemble the finished parts.", rich_help_panel=CLUSTER_PANEL)
        ] = False,
        overwrite: Annotated[bool, typer.Option(help="Redo the extraction from scratch.")] = False,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    ) -> None:
        setup_logging(verbose)
        options = BuildOptions(kind=kind, captions=str(captions) if captions else None, **build)
        collection = read_collection(annotations, videos, pattern)
        extract_options = None
        if shards is None and not assemble_only:
            extract_options = ExtractOptions.from_flags(experts, estimator, ssta, images, fields)
        try:
            with sigterm_as_interrupt():
                result = build_dataset(
                    collection,
                    out,
                    options,
                    extract_options=extract_options,
                    shards=shards,
                    partition=partition.partition(),
                    assemble_only=assemble_only,
                    overwrite=overwrite,
                    progress=progress,
                    backend=backend.build(),
                )
        except KeyboardInterrupt as exc:
            raise exit_interrupted(exc, "finished work is saved") from None
        print_result(result, kind)
        if any(d.stage in ("input", "extraction") for d in result.dropped):
            raise typer.Exit(EXIT_INPUT_FAILED)

    signature = inspect.signature(command)
    if kind != "posecap":
        signature = signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "captions"])
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__doc__ = _DOCS[kind]
    wrapped = friendly_errors(command)
    wrapped.__signature__ = signature  # type: ignore[attr-defined]
    return wrapped


_COMMON_DOC = (
    "\n\nInputs: --annotations k400.csv with --videos DIR (a clip is found as "
    "{youtube_id}_{time_start:06d}_{time_end:06d}.* anywhere under DIR, or by --pattern); --videos DIR "
    "alone (a folder per class); or --annotations list.txt ('path<TAB>label' lines)."
    "\n\nExtraction goes to OUT/extract/ and resumes after a kill; --shards DIR reuses skeletons already "
    "extracted. Clips with a pose in fewer than --min-pose-frames of their frames are dropped (thesis 3.5), "
    "the label map merges classes, the official split is kept (or a stratified one made), and OUT/train/, "
    "OUT/val/, OUT/dataset.json, OUT/README.md and OUT/histograms.png are written."
    "\n\nOn a cluster: one array task per part with --shard-index $SLURM_ARRAY_TASK_ID --num-shards N, "
    "then the same command with --assemble-only."
    "\n\nExit code: 0 built, 1 built but some videos were missing or failed, 2 bad usage or nothing to build."
)

_DOCS = {
    "posetics": "Build a Posetics-style action dataset (thesis 3.5): skeleton shards with a label column."
    + _COMMON_DOC
    + "\n\nExample: posekit build-dataset posetics --videos kinetics/ --annotations k400.csv --out posetics/ "
    "--experts yolo --imgsz 1280 --device cuda:0",
    "posecap": "Build a PoseCap-style dataset (thesis 6.3.1): posetics plus a text column (from --captions or "
    "label templates) and the video path; with --3d (and the mediapipe expert) each track's 3D beside its 2D."
    + _COMMON_DOC
    + "\n\nExample: posekit build-dataset posecap --videos k700/ --annotations k700.csv --captions captions.csv "
    "--out posecap/",
}

build_app.command("posetics", no_args_is_help=True)(_command("posetics"))
build_app.command("posecap", no_args_is_help=True)(_command("posecap"))


def print_result(result: BuildResult, kind: str) -> None:
    if not result.assembled:
        ex = result.extraction
        console.print(
            f"extracted part into {result.out}/extract: {ex.get('done', 0)} done, {ex.get('failed', 0)} failed, "
            f"{ex.get('skipped', 0)} already done; assemble with --assemble-only when every part has finished"
        )
        return
    table = Table(title=f"posekit build-dataset {kind} -> {result.out}", show_header=False)
    for name, counts in result.counts.items():
        table.add_row(f"{name} clips", f"{sum(counts.values())} in {len(result.shards[name])} shard(s)")
    table.add_row("classes", str(len(result.classes)))
    stages: dict[str, int] = {}
    for d in result.dropped:
        stages[d.stage] = stages.get(d.stage, 0) + 1
    table.add_row("dropped", ", ".join(f"{n} at {s}" for s, n in stages.items()) or "none")
    console.print(table)
    for d in result.dropped:
        console.print(f"[yellow]dropped[/] {d.clip_id} ({d.stage}): {d.reason}", highlight=False, soft_wrap=True)
