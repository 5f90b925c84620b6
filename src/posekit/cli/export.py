"""``posekit export pyskl|ntu|coco``: skeleton datasets for other trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.cli.options import with_options
from posekit.core.errors import ConfigError
from posekit.io.outputs import check_output_dir, check_output_file
from posekit.workflows.datasets.exports.coco import export_coco, export_coco_results
from posekit.workflows.datasets.exports.ntu import NtuOptions, export_ntu
from posekit.workflows.datasets.exports.pyskl import PysklOptions, export_pyskl

export_app = typer.Typer(
    help=(
        "Export a skeleton dataset (a built dataset folder or any skeletons shards) to other formats.\n\n"
        "Example: posekit export pyskl posetics/ --out posetics.pkl"
    ),
    no_args_is_help=True,
    add_completion=False,
)

_DATA = "A dataset built by posekit build-dataset (splits from dataset.json), or a folder of skeletons shards."


@export_app.command("pyskl", no_args_is_help=True)
@friendly_errors
@with_options(options=PysklOptions)
def pyskl_command(
    data: Annotated[Path, typer.Argument(help=_DATA)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The pickle file to write.")],
    options: PysklOptions,
) -> None:
    """pyskl / MMAction2 2D skeleton annotations: {split, annotations, layout} with keypoint (M, T, V, 2) pixels.

    Example: posekit export pyskl posetics/ --out posetics_2d.pkl --layout coco17
    """
    setup_logging()
    check_output_file(out, "--out")
    path = export_pyskl(data, out, options)
    console.print(f"wrote {path}")


@export_app.command("ntu", no_args_is_help=True)
@friendly_errors
@with_options(options=NtuOptions)
def ntu_command(
    data: Annotated[Path, typer.Argument(help=_DATA)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for SPLIT_data.npy, SPLIT_label.npy, ...")],
    options: NtuOptions,
) -> None:
    """NTU-style arrays (N, C, T, V, M) float32 per split (one T for all), with labels and clip ids.

    Example: posekit export ntu posetics/ --out posetics-npy/ --frames 300 --pad loop
    """
    setup_logging()
    check_output_dir(out, "--out")
    for split, path in export_ntu(data, out, options).items():
        console.print(f"{split}: wrote {path}")


@export_app.command("coco", no_args_is_help=True)
@friendly_errors
def coco_command(
    data: Annotated[Path, typer.Argument(help=_DATA)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for SPLIT.json (with --results: the JSON file).")],
    layout: Annotated[str | None, typer.Option(help="Convert joints (COCO tools expect coco17).")] = None,
    results: Annotated[
        bool, typer.Option(help="Write a pycocotools results list on the images of --gt instead of a dataset.")
    ] = False,
    gt: Annotated[Path | None, typer.Option("--gt", help="With --results: the ground-truth keypoints file.")] = None,
    images: Annotated[
        Path | None, typer.Option(help="With --results: the folder holding the ground-truth images.")
    ] = None,
) -> None:
    """COCO-keypoints JSON per split: one image per frame, one annotation per person and frame.

    With --results --gt FILE: the pycocotools results list ([{image_id, category_id, keypoints,
    score}]) of the shards on that file's images, with its image ids.

    Example: posekit export coco posetics/ --out coco/
    Example: posekit export coco shards/ --results --gt person_keypoints_val2017.json --out results.json
    """
    setup_logging()
    if results != (gt is not None):
        raise ConfigError("--results and --gt go together: posekit export coco SHARDS --results --gt FILE --out X.json")
    if results:
        check_output_file(out, "--out")
        path, count = export_coco_results(data, gt, out, images)
        console.print(f"wrote {count} results to {path}")
        return
    check_output_dir(out, "--out")
    for split, path in export_coco(data, out, layout).items():
        console.print(f"{split}: wrote {path}")
