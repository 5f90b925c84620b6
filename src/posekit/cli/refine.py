"""``posekit refine``: pose refinement from saved expert proposals and self-training (thesis 3.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.cli.options import Group, with_options
from posekit.core.errors import ConfigError
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.reaggregate import aggregate_proposal_shards
from posekit.workflows.selftrain.options import SelfTrainOptions

refine_app = typer.Typer(
    help=(
        "Refine poses: re-run SST-A on saved proposals (aggregate), or self-train one student model on "
        "SST-A pseudo labels (--self-train, or the self-train subcommand)."
    ),
    invoke_without_command=True,
)


@dataclass(frozen=True)
class SelfTrainPlaces:
    """Where a self-training run reads and writes: the flags of both spellings of the command."""

    shards: Path | None = field(
        default=None, metadata={"help": "Skeleton shards of 'posekit extract' with several experts (SST-A output)."}
    )
    out: Path | None = field(
        default=None,
        metadata={"help": "Run folder: best.pt, run-card.json, pseudo-labels/, train/.", "aliases": ("-o",)},
    )
    videos: Path | None = field(
        default=None,
        metadata={
            "help": "Folder the videos were extracted from (clip ids are paths relative to it); default: the "
            "paths stored in the shards."
        },
    )


def run_self_train(places: SelfTrainPlaces, options: SelfTrainOptions, progress: bool, verbose: bool) -> None:
    """The self-training run behind both spellings of the command."""
    from posekit.workflows.selftrain.self_train import self_train

    setup_logging(verbose)
    shards, out = places.shards, places.out
    if shards is None or out is None:
        raise ConfigError("self-training needs --shards (skeleton shards of posekit extract) and --out (a folder)")
    result = self_train(shards, out, places.videos, options, progress=progress or verbose)
    card = result.card
    before, after = card["metrics_before"], card["metrics_after"]
    state = "already complete" if result.already_done else ("resumed and finished" if result.resumed else "finished")
    console.print(f"self-training {state}: {result.weights}")
    for key in ("box_map50", "box_recall", "pose_map50"):
        if key in before and key in after:
            console.print(f"  {key} on the pseudo-label val split: {before[key]:.3f} -> {after[key]:.3f}")
    calibrated, was = card["calibration_after"], card["calibration_before"]
    console.print(
        f"  person threshold {calibrated['threshold']:.3f}, NMS IoU {calibrated['nms_iou']} (in best.pt), calibrated "
        f"on the val split: F1 {was['f1']:.3f} -> {calibrated['f1']:.3f}, detections per person "
        f"{was['detections_per_label']:.2f} -> {calibrated['detections_per_label']:.2f}"
    )
    console.print(f"  run card: {Path(out) / 'run-card.json'}")
    console.print(f"  use it: posekit extract VIDEOS --out SHARDS --experts yolo:{result.weights}")


ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars and Ultralytics' training log.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
_TRAINING = Group(SelfTrainOptions, panel="Self-training (thesis 3.3.3)")


@refine_app.callback()
@friendly_errors
@with_options(places=SelfTrainPlaces, options=_TRAINING)
def refine_callback(
    ctx: typer.Context,
    places: SelfTrainPlaces,
    options: SelfTrainOptions,
    self_train: Annotated[
        bool, typer.Option("--self-train", help="Self-train a student on SST-A pseudo labels (see self-train --help).")
    ] = False,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Refine poses (thesis 3.3).

    posekit refine --self-train --shards shards/ --videos videos/ --out run/   (then: posekit extract videos/ --out
    shards2/ --experts yolo:run/best.pt)

    posekit refine aggregate --proposals shards/proposals --out shards-g006 --gamma 0.06
    """
    if ctx.invoked_subcommand is not None:
        if self_train:
            raise ConfigError(
                "--self-train is its own command; drop the subcommand, or use 'posekit refine self-train'"
            )
        return
    if not self_train:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    run_self_train(places, options, progress, verbose)


@refine_app.command("self-train", no_args_is_help=True)
@friendly_errors
@with_options(places=SelfTrainPlaces, options=_TRAINING)
def self_train_command(
    places: SelfTrainPlaces,
    options: SelfTrainOptions,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Fine-tune one YOLO-pose student on SST-A pseudo labels (thesis 3.3.3), so it can extract alone.

    Frames are sampled from the shards' clips; poses with C >= gamma become boxes (pose extent
    + 10 %) with an anchor-pose class; only the box and class branches learn by default. Writes
    OUT/best.pt and OUT/run-card.json (data used, gamma, epochs, metrics before/after). Rerun the
    same command to resume a killed run.

    Example: posekit refine self-train --shards shards/ --videos videos/ --out run/ --imgsz 1280
    then:    posekit extract videos/ --out shards2/ --experts yolo:run/best.pt   (runs at 1280, from best.pt)
    """
    run_self_train(places, options, progress, verbose)


@refine_app.command("aggregate", no_args_is_help=True)
@friendly_errors
@with_options(
    ssta=Group(AggregationOptions, panel="SST-A (thesis 3.3.2)"),
    scoring=Group(ExtractOptions, mode="values", only=("min_joint_score",)),
    person_filters=Group(TrackFilterOptions, mode="given", panel="Person filters (default: the run's own)"),
)
def aggregate_command(
    ssta: AggregationOptions,
    scoring: dict[str, Any],
    person_filters: dict[str, Any],
    proposals: Annotated[
        Path, typer.Option(help="Proposals shards (OUT/proposals of posekit extract --keep-proposals).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the new skeletons shards.")],
    overwrite: Annotated[bool, typer.Option(help="Delete the shards and manifest already in OUT first.")] = False,
) -> None:
    """Aggregate every clip's expert proposals with SST-A into skeleton shards.

    The person filters (--min-track-frames, --max-persons) are those the extraction run recorded; a filter
    flag given here overrides the run's value.

    Example: posekit refine aggregate --proposals shards/proposals --out shards-g006 --gamma 0.06
    """
    setup_logging()
    summary = aggregate_proposal_shards(
        proposals, out, ssta, scoring["min_joint_score"], overwrite, person_filters=person_filters
    )
    console.print(
        f"aggregated {summary.done} clip(s) ({summary.skipped} already done): "
        f"{summary.tracks} tracks, {summary.person_frames} poses kept -> {out}"
    )
