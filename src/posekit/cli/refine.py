"""``posekit refine``: pose refinement from saved expert proposals (thesis 3.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli.common import console, friendly_errors, setup_logging
from posekit.refine.reaggregate import aggregate_proposal_shards
from posekit.refine.tracks import AggregationOptions

refine_app = typer.Typer(
    help="Refine poses: re-run SST-A on saved proposals (no model runs again).", no_args_is_help=True
)


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
