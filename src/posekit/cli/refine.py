"""``posekit refine``: pose refinement from saved expert proposals and self-training (thesis 3.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.core.errors import ConfigError
from posekit.refine.tracks import AggregationOptions
from posekit.workflows.extraction.reaggregate import aggregate_proposal_shards

refine_app = typer.Typer(
    help=(
        "Refine poses: re-run SST-A on saved proposals (aggregate), or self-train one student model on "
        "SST-A pseudo labels (--self-train, or the self-train subcommand)."
    ),
    invoke_without_command=True,
)


def _heads(text: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in text.split(",") if h.strip())


def run_self_train(
    shards: Path | None,
    out: Path | None,
    videos: Path | None,
    weights: Path | None,
    gamma: float,
    frame_fraction: float,
    anchor_classes: int,
    val_fraction: float,
    train_heads: str,
    epochs: int,
    imgsz: int,
    batch: int,
    lr0: float,
    device: str,
    workers: int,
    seed: int,
    progress: bool,
    verbose: bool,
) -> None:
    """The self-training run behind both spellings of the command."""
    from posekit.workflows.selftrain.pseudo_labels import PseudoLabelOptions
    from posekit.workflows.selftrain.self_train import SelfTrainOptions, self_train

    setup_logging(verbose)
    if shards is None or out is None:
        raise ConfigError("self-training needs --shards (skeleton shards of posekit extract) and --out (a folder)")
    options = SelfTrainOptions(
        labels=PseudoLabelOptions(
            gamma=gamma,
            frame_fraction=frame_fraction,
            anchor_classes=anchor_classes,
            val_fraction=val_fraction,
            seed=seed,
        ),
        weights=weights,
        train_heads=_heads(train_heads),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        lr0=lr0,
        device=device,
        workers=workers,
        seed=seed,
    )
    result = self_train(shards, out, videos, options, progress=progress or verbose)
    card = result.card
    before, after = card["metrics_before"], card["metrics_after"]
    state = "already complete" if result.already_done else ("resumed and finished" if result.resumed else "finished")
    console.print(f"self-training {state}: {result.weights}")
    for key in ("box_map50", "box_recall", "pose_map50"):
        if key in before and key in after:
            console.print(f"  {key} on the pseudo-label val split: {before[key]:.3f} -> {after[key]:.3f}")
    console.print(f"  run card: {Path(out) / 'run-card.json'}")
    console.print(f"  use it: posekit extract VIDEOS --out SHARDS --experts yolo:{result.weights} --imgsz {imgsz}")


# Options shared by `posekit refine --self-train ...` and `posekit refine self-train ...`.
ShardsOpt = Annotated[
    Path | None, typer.Option(help="Skeleton shards of 'posekit extract' with several experts (SST-A output).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Run folder: best.pt, run-card.json, pseudo-labels/, train/.")
]
VideosOpt = Annotated[
    Path | None,
    typer.Option(
        help="Folder the videos were extracted from (clip ids are paths relative to it); default: the "
        "paths stored in the shards."
    ),
]
WeightsOpt = Annotated[
    Path | None, typer.Option(help="Student's starting YOLO-pose weights (.pt); default: bundled yolo11n-pose.")
]
GammaOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Only poses with SST-A confidence C >= gamma become labels (eq. 3.3).")
]
FractionOpt = Annotated[
    float, typer.Option(min=0.001, max=1.0, help="Fraction of each clip's frames sampled uniformly (thesis: 0.1).")
]
AnchorsOpt = Annotated[
    int,
    typer.Option(
        min=1,
        help="K-means anchor-pose classes: 1 = person only (default, measured better); B > 1 = LCRNet-style (the "
        "class head predicts the anchor pose, any class is a person at inference; thesis B = 20).",
    ),
]
ValOpt = Annotated[
    float, typer.Option(min=0.01, max=0.99, help="Fraction of videos for validation (one video: of its time span).")
]
HeadsOpt = Annotated[
    str,
    typer.Option(
        help="Head branches that learn: loc (boxes), cls (classes), kpt (keypoints); the backbone and neck "
        "stay frozen. Thesis: loc,cls."
    ),
]
EpochsOpt = Annotated[int, typer.Option(min=1, help="Training epochs.")]
ImgszOpt = Annotated[int, typer.Option(min=32, help="Training input size; use the size you will extract at.")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Images per training batch.")]
LrOpt = Annotated[float, typer.Option(min=0.0, help="AdamW learning rate of the learning branches.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu or cuda:N.")]
WorkersOpt = Annotated[int, typer.Option(min=0, help="Data-loading processes.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of K-means, the split and training.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars and Ultralytics' training log.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


@refine_app.callback()
@friendly_errors
def refine_callback(
    ctx: typer.Context,
    self_train: Annotated[
        bool, typer.Option("--self-train", help="Self-train a student on SST-A pseudo labels (see self-train --help).")
    ] = False,
    shards: ShardsOpt = None,
    out: OutOpt = None,
    videos: VideosOpt = None,
    weights: WeightsOpt = None,
    gamma: GammaOpt = 0.18,
    frame_fraction: FractionOpt = 0.1,
    anchor_classes: AnchorsOpt = 1,
    val_fraction: ValOpt = 0.2,
    train_heads: HeadsOpt = "loc,cls",
    epochs: EpochsOpt = 10,
    imgsz: ImgszOpt = 640,
    batch: BatchOpt = 8,
    lr0: LrOpt = 0.002,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 2,
    seed: SeedOpt = 0,
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
    run_self_train(
        shards, out, videos, weights, gamma, frame_fraction, anchor_classes, val_fraction, train_heads,
        epochs, imgsz, batch, lr0, device, workers, seed, progress, verbose,
    )  # fmt: skip


@refine_app.command("self-train", no_args_is_help=True)
@friendly_errors
def self_train_command(
    shards: ShardsOpt = None,
    out: OutOpt = None,
    videos: VideosOpt = None,
    weights: WeightsOpt = None,
    gamma: GammaOpt = 0.18,
    frame_fraction: FractionOpt = 0.1,
    anchor_classes: AnchorsOpt = 1,
    val_fraction: ValOpt = 0.2,
    train_heads: HeadsOpt = "loc,cls",
    epochs: EpochsOpt = 10,
    imgsz: ImgszOpt = 640,
    batch: BatchOpt = 8,
    lr0: LrOpt = 0.002,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 2,
    seed: SeedOpt = 0,
    progress: ProgressOpt = True,
    verbose: VerboseOpt = False,
) -> None:
    """Fine-tune one YOLO-pose student on SST-A pseudo labels (thesis 3.3.3), so it can extract alone.

    Frames are sampled from the shards' clips; poses with C >= gamma become boxes (pose extent
    + 10 %) with an anchor-pose class; only the box and class branches learn by default. Writes
    OUT/best.pt and OUT/run-card.json (data used, gamma, epochs, metrics before/after). Rerun the
    same command to resume a killed run.

    Example: posekit refine self-train --shards shards/ --videos videos/ --out run/ --imgsz 1280
    then:    posekit extract videos/ --out shards2/ --experts yolo:run/best.pt --imgsz 1280
    """
    run_self_train(
        shards, out, videos, weights, gamma, frame_fraction, anchor_classes, val_fraction, train_heads,
        epochs, imgsz, batch, lr0, device, workers, seed, progress, verbose,
    )  # fmt: skip


@refine_app.command("aggregate", no_args_is_help=True)
@friendly_errors
def aggregate_command(
    proposals: Annotated[
        Path, typer.Option(help="Proposals shards (OUT/proposals of posekit extract --keep-proposals).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the new skeletons shards.")],
    mode: Annotated[str, typer.Option(help="thesis (eq. 3.1 exactly) or robust.")] = "thesis",
    gamma: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Drop poses with confidence C < gamma (eq. 3.3).")
    ] = 0.18,
    normaliser: Annotated[str, typer.Option(help="D_normal of eq. 3.4: head-neck or shoulders.")] = "head-neck",
    min_joint_score: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Joints an expert scores below this count as missing.")
    ] = 0.3,
    overwrite: Annotated[bool, typer.Option(help="Delete the shards and manifest already in OUT first.")] = False,
) -> None:
    """Aggregate every clip's expert proposals with SST-A into skeleton shards.

    Example: posekit refine aggregate --proposals shards/proposals --out shards-g006 --gamma 0.06
    """
    setup_logging()
    summary = aggregate_proposal_shards(
        proposals, out, AggregationOptions(mode=mode, gamma=gamma, normaliser=normaliser), min_joint_score, overwrite
    )
    console.print(
        f"aggregated {summary.done} clip(s) ({summary.skipped} already done): "
        f"{summary.tracks} tracks, {summary.person_frames} poses kept -> {out}"
    )
