"""The ``posekit`` command line: one module per command, each a thin layer over the library."""

from __future__ import annotations

import shutil

import typer
from typer import rich_utils

from posekit.cli.build_dataset import build_app
from posekit.cli.evaluate import eval_app
from posekit.cli.export import export_app
from posekit.cli.extract import extract_command
from posekit.cli.import_ import import_app
from posekit.cli.inspect import inspect_command
from posekit.cli.manifest import manifest_app
from posekit.cli.refine import refine_app
from posekit.cli.train import train_app, unik_eval, unik_predict
from posekit.cli.viz import viz_command

app = typer.Typer(
    name="posekit",
    help=(
        "Skeleton extraction and refinement for action recognition.\n\n"
        "Typical use: posekit extract videos/ --out shards/ ; posekit inspect shards/ ; "
        "posekit viz clip.mp4 --shards shards/ --out overlay.mp4 ; "
        "posekit build-dataset posetics --videos k400/ --annotations k400.csv --out posetics/ ; "
        "posekit train unik --data posetics/"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("extract", no_args_is_help=True)(extract_command)
app.command("inspect", no_args_is_help=True)(inspect_command)
app.command("viz", no_args_is_help=True)(viz_command)
app.add_typer(refine_app, name="refine")
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")
app.add_typer(manifest_app, name="manifest")
eval_app.command("unik", no_args_is_help=True)(unik_eval)
predict_app = typer.Typer(help="Predict with trained models.", no_args_is_help=True)
predict_app.command("unik", no_args_is_help=True)(unik_predict)
app.add_typer(predict_app, name="predict")
app.add_typer(build_app, name="build-dataset")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")


HELP_MIN_COLUMNS = 120
"""Help is laid out at least this wide: on a narrower terminal rich would cut option names (``--min-joint-sc…``)."""


def widen_help() -> None:
    """Lay ``--help`` out at the terminal width (``COLUMNS``, ``TERMINAL_WIDTH``), never under HELP_MIN_COLUMNS."""
    columns = rich_utils.MAX_WIDTH or shutil.get_terminal_size().columns
    rich_utils.MAX_WIDTH = max(columns, HELP_MIN_COLUMNS)


def main() -> None:
    widen_help()
    app()


if __name__ == "__main__":
    main()
