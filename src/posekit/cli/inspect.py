"""``posekit inspect``: what is in a folder of shards, on stdout (a table, or JSON for scripts)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from posekit.cli.common import friendly_errors, setup_logging
from posekit.core.errors import ShardError
from posekit.io.outputs import check_output_file
from posekit.io.stats import HISTOGRAM_BINS, ShardStats, plot_histograms, shard_stats


@friendly_errors
def inspect_command(
    shards: Annotated[Path, typer.Argument(help="A skeletons shard file or a folder of shards.")],
    clips: Annotated[
        bool, typer.Option("--clips", help="Also list every clip: id, frames, tracks, poses, missing joints.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables (for scripts).")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Also write the histograms as a PNG here.")] = None,
) -> None:
    """Summarise skeleton shards on stdout: clips, frames, tracks, missing joints, score and C histograms.

    Example: posekit inspect shards/ --clips > summary.txt ; posekit inspect shards/ --json | jq .clips
    """
    setup_logging()
    if plot is not None:
        check_output_file(plot, "--plot")
    stats = shard_stats(shards, per_clip=clips)
    if not stats.shards:
        raise ShardError(f"no skeletons shards under {shards} (expected files named skeletons-NNNNN.parquet)")
    written = plot_histograms(stats, plot) if plot is not None else None
    if as_json:
        typer.echo(json.dumps(stats_json(shards, stats, clips), indent=1))
    else:
        print_tables(shards, stats, clips)
    if written is not None and not as_json:
        typer.echo(f"histograms written to {written}")


def _number(value: float) -> float | None:
    """A rate for JSON: NaN (nothing to count) as null."""
    return None if math.isnan(value) else round(value, 6)


def stats_json(shards: Path, stats: ShardStats, clips: bool) -> dict[str, Any]:
    """The summary as plain JSON types: totals, rates (null when undefined), histogram counts per bin."""
    doc: dict[str, Any] = {
        "path": str(shards),
        "shards": stats.shards,
        "layout": stats.layout,
        "experts": list(stats.experts),
        "clips": stats.clips,
        "frames": stats.frames,
        "person_tracks": stats.tracks,
        "person_frames": stats.person_frames,
        "person_frames_3d": stats.person_frames_3d,
        "frames_with_person_rate": _number(stats.frames_with_person_rate),
        "missing_joint_rate": _number(stats.missing_rate),
        "histogram_bins": [round(float(b), 6) for b in HISTOGRAM_BINS],
        "mean_joint_score_histogram": stats.score_hist.tolist(),
        "confidence_histogram": stats.confidence_hist.tolist() if stats.confidence_values else None,
    }
    if clips:
        doc["per_clip"] = [
            {
                "clip_id": c.clip_id,
                "frames": c.frames,
                "tracks": c.tracks,
                "poses": c.poses,
                "missing_joints": c.missing_joints,
                "missing_joint_rate": _number(c.missing_rate),
            }
            for c in stats.per_clip
        ]
    return doc


def print_tables(shards: Path, stats: ShardStats, clips: bool) -> None:
    """The summary table, the text histograms and (with ``clips``) one row per clip, on stdout."""
    out = Console(highlight=False)
    table = Table(title=escape(str(shards)), show_header=False)
    for key, value in [
        ("shards", stats.shards),
        ("layout", stats.layout),
        ("experts", ", ".join(stats.experts)),
        ("clips", stats.clips),
        ("frames", stats.frames),
        ("person tracks", stats.tracks),
        ("person-frames", stats.person_frames),
        ("person-frames with 3D", stats.person_frames_3d),
        ("frames with a person", f"{stats.frames_with_person_rate:.1%}"),
        ("missing-joint rate", f"{stats.missing_rate:.1%}"),
    ]:
        table.add_row(key, escape(str(value)))
    out.print(table)
    out.print(text_histogram("mean joint score per person-frame", stats.score_hist), markup=False)
    if stats.confidence_values:
        out.print(text_histogram("SST-A confidence C per person-frame", stats.confidence_hist), markup=False)
    if clips:
        per_clip = Table(title=f"per clip ({len(stats.per_clip)})")
        per_clip.add_column("clip id", overflow="fold")
        for column in ("frames", "tracks", "poses", "missing joints"):
            per_clip.add_column(column, justify="right", no_wrap=True)
        for c in stats.per_clip:
            rate = "-" if math.isnan(c.missing_rate) else f"{c.missing_joints} ({c.missing_rate:.1%})"
            per_clip.add_row(escape(c.clip_id), str(c.frames), str(c.tracks), str(c.poses), rate)
        out.print(per_clip)


def text_histogram(title: str, hist: np.ndarray, width: int = 40) -> str:
    """``hist`` (counts per bin of ``HISTOGRAM_BINS``) as lines of ``#`` bars, the largest ``width`` long."""
    peak = max(int(hist.max()), 1)
    lines = [title]
    for lo, hi, n in zip(HISTOGRAM_BINS[:-1], HISTOGRAM_BINS[1:], hist):
        lines.append(f"  {lo:.1f}-{hi:.1f} {'#' * round(width * int(n) / peak):<{width}} {int(n)}")
    return "\n".join(lines)
