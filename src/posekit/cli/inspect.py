"""``posekit inspect``: what is in a folder of shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.core.errors import ShardError
from posekit.io.stats import HISTOGRAM_BINS, plot_histograms, shard_stats


@friendly_errors
def inspect_command(
    shards: Annotated[Path, typer.Argument(help="A skeletons shard file or a folder of shards.")],
    plot: Annotated[Path | None, typer.Option(help="Also write the histograms as a PNG here.")] = None,
) -> None:
    """Summarise skeleton shards: clips, frames, tracks, missing joints, score and C histograms."""
    setup_logging()
    stats = shard_stats(shards)
    if not stats.shards:
        raise ShardError(f"no skeletons shards under {shards} (expected files named skeletons-NNNNN.parquet)")
    table = Table(title=f"{shards}", show_header=False)
    for key, value in [
        ("shards", stats.shards),
        ("layout", stats.layout),
        ("experts", ", ".join(stats.experts)),
        ("clips", stats.clips),
        ("frames", stats.frames),
        ("person tracks", stats.tracks),
        ("person-frames", stats.person_frames),
        ("frames with a person", f"{stats.frames_with_person_rate:.1%}"),
        ("missing-joint rate", f"{stats.missing_rate:.1%}"),
    ]:
        table.add_row(key, str(value))
    console.print(table)
    console.print(text_histogram("mean joint score per person-frame", stats.score_hist))
    if stats.confidence_values:
        console.print(text_histogram("SST-A confidence C per person-frame", stats.confidence_hist))
    if plot is not None:
        console.print(f"histograms written to {plot_histograms(stats, plot)}")


def text_histogram(title: str, hist, width: int = 40) -> str:
    peak = max(int(hist.max()), 1)
    lines = [title]
    for lo, hi, n in zip(HISTOGRAM_BINS[:-1], HISTOGRAM_BINS[1:], hist):
        lines.append(f"  {lo:.1f}-{hi:.1f} {'#' * round(width * int(n) / peak):<{width}} {int(n)}")
    return "\n".join(lines)
