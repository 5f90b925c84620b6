"""``posekit eval``: pose quality against COCO ground truth, or against a clean reference under degradations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.cli.options import Group, with_options
from posekit.core.errors import ConfigError
from posekit.core.jsonable import jsonable
from posekit.core.progress import progress_bar
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import EXPERTS, parse_experts
from posekit.eval.coco import GtScoreOptions
from posekit.eval.pose3d import Gt3dOptions
from posekit.io.outputs import check_output_dir, check_output_file
from posekit.refine.ssta import DEFAULT_GAMMA
from posekit.workflows.protocols.degradation import ProtocolOptions

eval_app = typer.Typer(
    help=(
        "Measure pose quality. With ground truth: posekit eval --gt coco.json --shards DIR [--plots DIR]. "
        "Without: posekit eval degrade VIDEO --out DIR (agreement with a clean reference under degradations)."
    ),
    invoke_without_command=True,
)

GtOption = Annotated[
    Path | None,
    typer.Option(
        "--gt",
        help="Keypoints ground truth: COCO-style JSON (COCO, CrowdPose, PoseTrack), MPII or AIC list JSON.",
    ),
]
ImagesOption = Annotated[
    Path | None,
    typer.Option(help="Folder holding the ground-truth images (frame folders' frame positions, missing images)."),
]
ShardsOption = Annotated[Path | None, typer.Option(help="Skeletons shards (a file or a folder) to score.")]
PlotsOption = Annotated[
    Path | None, typer.Option(help="Write the C histogram and C-vs-error plots (thesis Fig. 3.7/3.8) here.")
]
Gt3dOption = Annotated[
    Path | None,
    typer.Option(
        "--gt3d",
        help="3D labels (MMPose body3d .npz: imgname, S, part, center, scale; Human3.6M or MPI-INF-3DHP 17 joints): "
        "MPJPE and PA-MPJPE in mm of the shards' 3D (--shards, from extract --3d over the images), or of mediapipe "
        "alone on each labelled box (--images without --shards).",
    ),
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the scores as JSON to this file.")]
GammaOption = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Gamma drawn in the plots (eq. 3.3; the thesis picks 0.18).")
]

_SCORE_KEYS = (
    ("ap", "OKS AP", 1, "ap"),
    ("ap50", "OKS AP50", 1, "ap"),
    ("ap75", "OKS AP75", 1, "ap"),
    ("ap_medium", "OKS AP medium", 1, "ap"),
    ("ap_large", "OKS AP large", 1, "ap"),
    ("ar", "OKS AR", 1, "ap"),
    ("pckh", "PCKh", 1, "pckh"),
    ("pck", "PCK", 1, "pck"),
    ("mpjpe", "MPJPE/head", 3, "mpjpe"),
    ("completeness", "complete %", 1, "completeness"),
    ("recall", "found %", 1, "recall"),
)


def _fmt(value: float, digits: int) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def _score_gt3d(
    gt3d: Path, shards: Path | None, images: Path | None, json_out: Path | None, options: Gt3dOptions
) -> None:
    from posekit.estimators.registry import build_estimator
    from posekit.eval.pose3d import labelled_box_3d, load_gt3d, score_3d, tracked_3d

    if json_out is not None:
        check_output_file(json_out, "--json")
    if shards is None and images is None:
        raise ConfigError("--gt3d needs --shards DIR (extract --3d over the images) or --images DIR (mediapipe alone)")
    gt = load_gt3d(gt3d, options, images if shards is not None else None)
    if shards is not None:
        pred, layout, source = *tracked_3d(gt, shards), f"tracked 3D of {shards}"
    else:
        expert = build_estimator("mediapipe", EstimatorConfig())
        pred, layout, source = (
            labelled_box_3d(gt, images, expert),
            expert.layout,
            "mediapipe alone on the labelled boxes",
        )
    score = score_3d(pred, gt, layout)
    table = Table(title=f"{source} vs {gt3d} ({gt.layout.name}, S in {gt.unit})")
    for column in ("image", "person", "MPJPE mm", "PA-MPJPE mm", "joints"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for i, name in enumerate(gt.images):
        status = score.status[i]
        table.add_row(name, status, _fmt(score.mpjpe[i], 1), _fmt(score.pa_mpjpe[i], 1), str(score.joints[i]))
    overall = score.overall()
    table.add_row(
        "all",
        f"{overall['scored']} of {overall['persons']}",
        _fmt(overall["mpjpe"], 1),
        _fmt(overall["pa_mpjpe"], 1),
        str(overall["joints"]),
    )
    console.print(table)
    console.print(f"joints scored (root-aligned on the mid-hip, root left out): {', '.join(score.joint_names)}")
    if json_out is not None:
        per_person = [
            {
                "image": name,
                "status": score.status[i],
                "mpjpe_mm": score.mpjpe[i],
                "pa_mpjpe_mm": score.pa_mpjpe[i],
                "joints": int(score.joints[i]),
            }
            for i, name in enumerate(gt.images)
        ]
        doc = {"source": source, "layout": gt.layout.name, "joints": score.joint_names, "overall": overall}
        json_out.write_text(json.dumps(jsonable({**doc, "persons": per_person}), indent=2) + "\n")


def _score_gt(
    gt: Path,
    shards: Path,
    images: Path | None,
    plots: Path | None,
    json_out: Path | None,
    gamma: float,
    score: GtScoreOptions,
) -> None:
    from posekit.eval.coco import score_shards
    from posekit.eval.plots import confidence_plots

    if plots is not None:
        check_output_dir(plots, "--plots")
    if json_out is not None:
        check_output_file(json_out, "--json")
    result = score_shards(gt, shards, score, images)
    title = f"{shards} vs {gt}: {result.format} file, {result.images_scored} of {result.images} images"
    table = Table(title=title)
    for column in ("score", "value", "95 % interval", "persons", "joints"):
        table.add_column(column, justify="left" if column == "score" else "right")
    for key, label, digits, covered in _SCORE_KEYS:
        coverage = result.coverage[covered]
        low, high = result.intervals.get(key, (float("nan"), float("nan")))
        interval = "-" if low != low else f"{low:.{digits}f}-{high:.{digits}f}"
        table.add_row(label, _fmt(result.overall[key], digits), interval, str(coverage[0]), str(coverage[1]))
    console.print(table)
    console.print(
        f"joints scored: {len(result.joints)} of COCO-17; PCKh head length: {result.head}; OKS area: {result.area}"
    )
    for line in result.warnings:
        console.print(f"[yellow]warning[/]: {line}")
    if plots is not None:
        if len(result.conf):
            paths = confidence_plots(result.conf, result.error, gamma, plots, title="SST-A vs ground truth")
            console.print(f"plots: {', '.join(str(p) for p in paths)}")
        else:
            console.print("[yellow]no plots[/]: the shards hold no SST-A confidence C (single-expert extraction)")
    if json_out is not None:
        doc = {
            "overall": result.overall,
            "coverage": result.coverage,
            "intervals": result.intervals,
            "warnings": result.warnings,
            "images": result.images,
            "images_scored": result.images_scored,
        }
        json_out.write_text(json.dumps(jsonable(doc), indent=2) + "\n")


@eval_app.callback()
@friendly_errors
@with_options(score=GtScoreOptions, gt3d_options=Gt3dOptions)
def eval_callback(
    ctx: typer.Context,
    score: GtScoreOptions,
    gt3d_options: Gt3dOptions,
    gt: GtOption = None,
    gt3d: Gt3dOption = None,
    shards: ShardsOption = None,
    images: ImagesOption = None,
    plots: PlotsOption = None,
    json_out: JsonOption = None,
    gamma: GammaOption = DEFAULT_GAMMA,
) -> None:
    """Score shards against COCO ground truth (--gt/--shards here) or 3D labels (--gt3d), or run a subcommand.

    Example: posekit eval --gt coco.json --shards shards/ --plots plots/
    Example: posekit eval --gt3d test_3dhp.npz --shards shards/   (shards of posekit extract IMAGES --3d)
    """
    if ctx.invoked_subcommand is not None:
        if gt is not None or shards is not None or gt3d is not None:
            raise ConfigError(
                f"--gt/--gt3d/--shards belong to 'posekit eval' alone, not to 'eval {ctx.invoked_subcommand}'"
            )
        return
    if gt3d is not None:
        if gt is not None:
            raise ConfigError("give --gt (2D keypoints) or --gt3d (3D labels), not both")
        setup_logging()
        _score_gt3d(gt3d, shards, images, json_out, gt3d_options)
        return
    if gt is None and shards is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if gt is None or shards is None:
        raise ConfigError("scoring against ground truth needs both --gt coco.json and --shards DIR")
    setup_logging()
    _score_gt(gt, shards, images, plots, json_out, gamma, score)


@eval_app.command("gt", no_args_is_help=True)
@friendly_errors
@with_options(score=GtScoreOptions)
def gt_command(
    gt: Annotated[Path, typer.Option("--gt", help="Keypoints ground truth (COCO-style, MPII or AIC JSON).")],
    shards: Annotated[Path, typer.Option(help="Skeletons shards (a file or a folder) to score.")],
    score: GtScoreOptions,
    images: ImagesOption = None,
    plots: PlotsOption = None,
    json_out: JsonOption = None,
    gamma: GammaOption = DEFAULT_GAMMA,
) -> None:
    """Score skeleton shards against keypoint labels: COCO OKS AP/AR, PCKh@0.5, PCK@0.2, MPJPE/head.

    To pick gamma from the plots, extract (or posekit refine aggregate) with --gamma 0 first,
    so that low-confidence poses are still in the shards.

    Example: posekit eval gt --gt coco.json --shards shards/ --plots plots/
    """
    setup_logging()
    _score_gt(gt, shards, images, plots, json_out, gamma, score)


class _Progress:
    """One progress bar per protocol stage (:func:`~posekit.core.progress.progress_bar`)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def stage(self, name: str, frames: int) -> None:
        self.close()
        self.bar = progress_bar(frames or None, name[:32], "frame", self.enabled)

    def frames(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@eval_app.command("degrade", no_args_is_help=True)
@friendly_errors
@with_options(
    protocol=Group(ProtocolOptions, mode="values"),
    estimator=Group(EstimatorConfig, panel="Experts"),
)
def degrade_command(
    video: Annotated[Path, typer.Argument(help="The video to degrade.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for the table (CSV, JSON, Markdown) and plots.")
    ],
    protocol: dict[str, Any],
    estimator: EstimatorConfig,
    experts: Annotated[
        str, typer.Option(help="Comma-separated experts (two or more). Known: " + ", ".join(EXPERTS))
    ] = "yolo,yolo-topdown,mediapipe",
    plots: Annotated[bool, typer.Option(help="Write the C plots of each SST-A mode.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Score every expert and SST-A mode on degraded frames against a clean reference.

    The reference keeps the joints that at least two experts agree on in the clean frames;
    scores are agreement with it, not accuracy against human labels.

    Example: posekit eval degrade vtest.avi --max-frames 60 --imgsz 1280 --out eval-vtest/
    """
    from posekit.workflows.protocols.degradation import run_protocol
    from posekit.workflows.protocols.report import markdown_table, write_outputs

    setup_logging(verbose)
    options = ProtocolOptions(experts=tuple(parse_experts(experts)), estimator=estimator, **protocol)
    check_output_dir(out, "--out")
    bars = _Progress(progress)
    try:
        result = run_protocol(video, options, on_stage=bars.stage, on_frames=bars.frames)
    finally:
        bars.close()
    paths = write_outputs(result, out, plots=plots)
    typer.echo(markdown_table(result))
    console.print(f"wrote {len(paths)} files to {out}")
