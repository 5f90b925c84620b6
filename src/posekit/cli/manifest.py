"""``posekit manifest``: work with run manifests (merge the parts of a scheduler array)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from posekit.cli.common import EXIT_INPUT_FAILED, console, friendly_errors, setup_logging
from posekit.workflows.extraction.merge import MergeReport, merge_manifests

manifest_app = typer.Typer(help="Run manifests: merge the parts of a --shard-index/--num-shards run.")

SHOWN = 20
"""Clips listed by name per problem; the rest are counted."""


@manifest_app.command("merge", no_args_is_help=True)
@friendly_errors
def merge_command(
    out: Annotated[Path, typer.Argument(help="The --out folder holding part-IIIII-of-NNNNN/ folders.")],
    inputs: Annotated[
        Path | None,
        typer.Option(help="The input folder or list the parts read: clips no part records are reported missing."),
    ] = None,
) -> None:
    """Join OUT/part-*-of-*/manifest.json into OUT/manifest.json; report missing parts, failed and duplicate clips.

    OUT then reads as one dataset. Exit code 1 when anything is missing, failed or duplicated:
    rerun the parts it names (same command, same flags; --retry-failed redoes only failed clips).
    """
    setup_logging()
    report = merge_manifests(out, inputs)
    print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_INPUT_FAILED)


def print_report(report: MergeReport) -> None:
    counts = report.counts
    table = Table(title=f"posekit manifest merge -> {report.manifest.path}", show_header=False)
    rows = [
        ("parts", f"{report.num_parts - len(report.missing_parts)} of {report.num_parts}"),
        ("clips done", str(counts["done"])),
        ("clips failed", str(counts["failed"])),
        ("duplicate inputs (extracted once)", str(counts["skipped"])),
    ]
    if report.missing_clips or report.missing_parts:
        rows.append(("clips missing", str(len(report.missing_clips)) if report.missing_clips else "unknown (--inputs)"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    _list("missing part", report.missing_parts, lambda name: f"{name} (no manifest: not run, or killed before a clip)")
    _list("missing clip", sorted(report.missing_clips), lambda clip: f"{clip} (in {report.missing_clips[clip]})")
    _list("failed", [e.clip_id for e in report.failed], lambda clip: report.manifest.entries[clip].reason)
    _list("duplicate", sorted(report.duplicates), lambda clip: f"{clip} done in {', '.join(report.duplicates[clip])}")
    if report.parts_to_rerun:
        parts = ",".join(str(i) for i in report.parts_to_rerun)
        console.print(
            f"rerun parts {parts} with the same command (e.g. sbatch --array={parts} ...); "
            "add --retry-failed to redo only their failed clips",
            highlight=False,
        )


def _list(label: str, items: list[str], describe) -> None:
    for item in items[:SHOWN]:
        console.print(f"[red]{label}:[/] {escape(describe(item))}", highlight=False, soft_wrap=True)
    if len(items) > SHOWN:
        console.print(f"[red]{label}:[/] ... and {len(items) - SHOWN} more", highlight=False)
