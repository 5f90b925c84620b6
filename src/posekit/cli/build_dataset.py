"""``posekit build-dataset posetics|posecap``: labelled videos -> a documented skeleton dataset."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from posekit.cli.common import EXIT_INPUT_FAILED, console, friendly_errors, setup_logging
from posekit.cli.extract import make_backend
from posekit.workflows.datasets.build import BuildOptions, BuildResult, build_dataset
from posekit.workflows.datasets.inputs import KINETICS_PATTERN, read_collection
from posekit.workflows.extraction.partition import Partition

build_app = typer.Typer(
    help=(
        "Build a skeleton pre-training dataset from labelled videos (thesis 3.5 Posetics, 6.3.1 PoseCap).\n\n"
        "Example: posekit build-dataset posetics --videos kinetics/ --annotations k400.csv --out posetics/"
    ),
    no_args_is_help=True,
    add_completion=False,
)

_EXTRACT = "Extraction (ignored with --shards)"
_SLURM = "Cluster (one SLURM array task per part)"


def _command(kind: str):
    def command(
        out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder: train/, val/, dataset.json.")],
        videos: Annotated[
            Path | None,
            typer.Option(
                help="Folder of the videos; alone, a folder per class (CLASS/clip.mp4 or SPLIT/CLASS/clip.mp4)."
            ),
        ] = None,
        annotations: Annotated[
            Path | None,
            typer.Option(
                help="Kinetics-style CSV (label,youtube_id,time_start,time_end[,split]) or a list file "
                "('path<TAB>label[<TAB>split]' per line)."
            ),
        ] = None,
        pattern: Annotated[
            str,
            typer.Option(help="How a CSV row names its video file (stem or relative path, Python format fields)."),
        ] = KINETICS_PATTERN,
        shards: Annotated[
            Path | None,
            typer.Option(
                help="Use existing skeletons shards (clip ids matched to the annotations) instead of extracting."
            ),
        ] = None,
        captions: Annotated[
            Path | None,
            typer.Option(
                help="Descriptions per clip (CSV clip_id,text / JSON / JSONL); default: templates from labels."
            ),
        ] = None,
        label_map: Annotated[
            str,
            typer.Option(
                help="auto (kinetics400-posetics for a Kinetics CSV, else none), none, kinetics400-posetics, "
                "or a JSON/CSV file of label -> class."
            ),
        ] = "auto",
        min_pose_frames: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="Keep clips with a pose in at least this share of frames.")
        ] = 0.5,
        split: Annotated[str, typer.Option(help="auto, official (from the annotations) or stratified.")] = "auto",
        val_fraction: Annotated[
            float, typer.Option(min=0.0, max=0.99, help="Share of each class in val (stratified split).")
        ] = 0.1,
        seed: Annotated[int, typer.Option(help="Seed of the split, shuffling and templates.")] = 0,
        shard_clips: Annotated[int, typer.Option(min=1, help="Clips per output shard.")] = 256,
        row_group_clips: Annotated[
            int, typer.Option(min=1, help="Clips per Parquet row group (what random access decodes).")
        ] = 16,
        experts: Annotated[str, typer.Option(help="As for posekit extract.", rich_help_panel=_EXTRACT)] = "yolo",
        device: Annotated[str, typer.Option(help="cpu or cuda:N.", rich_help_panel=_EXTRACT)] = "cpu",
        imgsz: Annotated[int, typer.Option(min=32, help="Network input size.", rich_help_panel=_EXTRACT)] = 640,
        batch_size: Annotated[int, typer.Option(min=1, help="Frames per batch.", rich_help_panel=_EXTRACT)] = 8,
        fps: Annotated[
            float | None, typer.Option(min=0.01, help="Sample frames at this rate.", rich_help_panel=_EXTRACT)
        ] = None,
        max_frames: Annotated[
            int | None, typer.Option(min=1, help="At most N frames per clip.", rich_help_panel=_EXTRACT)
        ] = None,
        layout: Annotated[str, typer.Option(help="Joint layout of the shards.", rich_help_panel=_EXTRACT)] = "coco17",
        mode: Annotated[str, typer.Option(help="SST-A mode: thesis or robust.", rich_help_panel=_EXTRACT)] = "thesis",
        gamma: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="SST-A filter (eq. 3.3).", rich_help_panel=_EXTRACT)
        ] = 0.18,
        backend: Annotated[
            str, typer.Option(help="local or ray (Ray Data actors, see posekit extract).", rich_help_panel=_SLURM)
        ] = "local",
        ray_address: Annotated[
            str | None, typer.Option(help="Ray cluster: auto or HOST:PORT.", rich_help_panel=_SLURM)
        ] = None,
        workers: Annotated[int, typer.Option(min=1, help="Ray actors.", rich_help_panel=_SLURM)] = 1,
        num_gpus_per_worker: Annotated[
            float, typer.Option(min=0.0, help="GPUs per Ray actor.", rich_help_panel=_SLURM)
        ] = 0.0,
        shard_index: Annotated[
            int | None,
            typer.Option(min=0, help="Extract only part I (e.g. $SLURM_ARRAY_TASK_ID).", rich_help_panel=_SLURM),
        ] = None,
        num_shards: Annotated[int | None, typer.Option(min=1, help="Number of parts.", rich_help_panel=_SLURM)] = None,
        assemble_only: Annotated[
            bool, typer.Option(help="Skip extraction; assemble the finished parts.", rich_help_panel=_SLURM)
        ] = False,
        allow_incomplete: Annotated[
            bool, typer.Option(help="Assemble even if some parts are not finished.", rich_help_panel=_SLURM)
        ] = False,
        overwrite: Annotated[bool, typer.Option(help="Redo the extraction from scratch.")] = False,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    ) -> None:
        setup_logging(verbose)
        options = BuildOptions(
            kind=kind,
            min_pose_frames=min_pose_frames,
            label_map=label_map,
            split=split,
            val_fraction=val_fraction,
            seed=seed,
            shard_clips=shard_clips,
            row_group_clips=row_group_clips,
            captions=str(captions) if captions else None,
            allow_incomplete=allow_incomplete,
        )
        collection = read_collection(annotations, videos, pattern)
        extract_options = None
        if shards is None and not assemble_only:
            from posekit.estimators.base import EstimatorConfig
            from posekit.estimators.registry import parse_experts
            from posekit.refine.tracks import AggregationOptions
            from posekit.workflows.extraction.driver import ExtractOptions

            extract_options = ExtractOptions(
                experts=tuple(parse_experts(experts)),
                estimator=EstimatorConfig(device=device, imgsz=imgsz),
                layout=layout,
                batch_size=batch_size,
                fps=fps,
                max_frames=max_frames,
                aggregation=AggregationOptions(mode=mode, gamma=gamma),
            )
        try:
            result = build_dataset(
                collection,
                out,
                options,
                extract_options=extract_options,
                shards=shards,
                partition=Partition.from_options(shard_index, num_shards),
                assemble_only=assemble_only,
                overwrite=overwrite,
                progress=progress,
                backend=make_backend(backend, ray_address, workers, num_gpus_per_worker, None, 2),
            )
        except KeyboardInterrupt:
            console.print("interrupted: finished work is saved; rerun the same command to resume")
            raise typer.Exit(130) from None
        print_result(result, kind)
        if any(d.stage in ("input", "extraction") for d in result.dropped):
            raise typer.Exit(EXIT_INPUT_FAILED)

    signature = inspect.signature(command, eval_str=True)
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
    "label templates), the video path and an empty 3D slot."
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
