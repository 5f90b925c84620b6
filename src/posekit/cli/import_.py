"""``posekit import ntu|pyskl|kinetics-skeleton|smarthome|penn-action``: other datasets' skeletons -> a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli.common import EXIT_INPUT_FAILED, console, friendly_errors, setup_logging
from posekit.cli.options import with_options
from posekit.workflows.datasets.imports.kinetics_skeleton import KineticsSkeletonImportOptions, import_kinetics_skeleton
from posekit.workflows.datasets.imports.ntu import NtuImportOptions, import_ntu
from posekit.workflows.datasets.imports.penn_action import PennActionImportOptions, import_penn_action
from posekit.workflows.datasets.imports.plan import ImportResult
from posekit.workflows.datasets.imports.pyskl import PysklImportOptions, import_pyskl
from posekit.workflows.datasets.imports.smarthome import SmarthomeImportOptions, import_smarthome

import_app = typer.Typer(
    help=(
        "Import the skeletons other datasets ship as a posekit dataset (train/, val/, dataset.json, card).\n\n"
        "Example: posekit import ntu nturgb+d_skeletons/ --out ntu60-xsub/ --benchmark xsub "
        "--missing NTU_RGBD_samples_with_missing_skeletons.txt"
    ),
    no_args_is_help=True,
    add_completion=False,
)

_OUT = Annotated[Path, typer.Option("--out", "-o", help="Dataset folder: train/, val/, dataset.json, README.md.")]


def _report(result: ImportResult) -> None:
    """Print what was imported; exit 1 when some files could not be read (they are listed in dataset.json)."""
    for split, counts in result.counts.items():
        console.print(f"{split}: {sum(counts.values())} clips, {len(counts)} classes")
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.tally.items() if v)
    console.print(
        f"wrote {result.out} ({result.kept} clips, {len(result.classes)} classes; {len(result.dropped)} dropped"
        + (f"; {extra}" if extra else "")
        + ")"
    )
    if result.failed:
        console.print(f"[bold red]{result.failed} file(s) could not be read[/]; see 'dropped' in dataset.json")
        raise typer.Exit(EXIT_INPUT_FAILED)


@import_app.command("ntu", no_args_is_help=True)
@friendly_errors
@with_options(options=NtuImportOptions)
def ntu_command(
    skeleton_dir: Annotated[Path, typer.Argument(help="Folder of NTU RGB+D .skeleton files (60 or 120).")],
    out: _OUT,
    options: NtuImportOptions,
) -> None:
    """NTU RGB+D 60/120: 25 Kinect joints, 3D camera metres and 2D colour pixels, official splits.

    Example: posekit import ntu nturgb+d_skeletons/ --out ntu60-xsub/ --benchmark xsub --missing missing.txt
    """
    setup_logging()
    _report(import_ntu(skeleton_dir, out, options))


@import_app.command("pyskl", no_args_is_help=True)
@friendly_errors
@with_options(options=PysklImportOptions)
def pyskl_command(
    pickle_file: Annotated[Path, typer.Argument(help="pyskl / MMAction2 skeleton pickle (2D or 3D).")],
    out: _OUT,
    options: PysklImportOptions,
) -> None:
    """pyskl / MMAction2 pickles: {split, annotations} with keypoint (M, T, V, C); read without running code.

    Example: posekit import pyskl ntu60_3danno.pkl --out ntu60-3d/ --split xsub
    """
    setup_logging()
    _report(import_pyskl(pickle_file, out, options))


@import_app.command("kinetics-skeleton", no_args_is_help=True)
@friendly_errors
@with_options(options=KineticsSkeletonImportOptions)
def kinetics_skeleton_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Folders of ST-GCN per-video JSON (kinetics_train/ kinetics_val/).")
    ],
    labels: Annotated[
        list[Path], typer.Option("--labels", help="Label file of each folder, in order (kinetics_train_label.json).")
    ],
    out: _OUT,
    options: KineticsSkeletonImportOptions,
) -> None:
    """ST-GCN's Kinetics-skeleton: OpenPose-18 JSON with [0, 1] coordinates and scores, one split per folder.

    Example: posekit import kinetics-skeleton kinetics_train/ kinetics_val/ --labels kinetics_train_label.json
    --labels kinetics_val_label.json --out k400-skeleton/
    """
    setup_logging()
    _report(import_kinetics_skeleton(folders, labels, out, options))


@import_app.command("smarthome", no_args_is_help=True)
@friendly_errors
@with_options(options=SmarthomeImportOptions)
def smarthome_command(
    folder: Annotated[Path, typer.Argument(help="Folder of Toyota Smarthome pose JSON files.")],
    out: _OUT,
    options: SmarthomeImportOptions,
) -> None:
    """Toyota Smarthome: LCRNet 13-joint poses, completed to 17; cs, cv1 or cv2 protocol.

    Example: posekit import smarthome smarthome_skeletons/ --out smarthome-cs/ --benchmark cs
    """
    setup_logging()
    _report(import_smarthome(folder, out, options))


@import_app.command("penn-action", no_args_is_help=True)
@friendly_errors
@with_options(options=PennActionImportOptions)
def penn_action_command(
    folder: Annotated[Path, typer.Argument(help="Penn Action folder (its labels/ of .mat files, or labels/ itself).")],
    out: _OUT,
    options: PennActionImportOptions,
) -> None:
    """Penn Action: 13 labelled joints + visibility, completed to 17 as the thesis does; standard split.

    Example: posekit import penn-action Penn_Action/ --out penn/
    """
    setup_logging()
    _report(import_penn_action(folder, out, options))
