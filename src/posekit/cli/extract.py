"""``posekit extract``: videos -> tracked skeleton shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from posekit.cli.common import EXIT_INPUT_FAILED, console, friendly_errors, setup_logging
from posekit.cli.options import Group, with_options
from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import EXPERTS, parse_experts
from posekit.io.images import ImageInputOptions
from posekit.refine.tracks import AggregationOptions
from posekit.workflows.extraction.driver import Backend, ExtractOptions, LocalBackend, RunSummary, run_extraction
from posekit.workflows.extraction.partition import Partition

_EXPERTS_HELP = (
    "Comma-separated experts; with several, SST-A aggregates them into the skeletons. "
    "NAME or NAME:WEIGHTS, e.g. yolo, yolo:runs/best.pt, mediapipe. Known: " + ", ".join(EXPERTS)
)


@friendly_errors
@with_options(
    images=ImageInputOptions,
    fields=Group(ExtractOptions, mode="values", exclude=("estimator", "aggregation", "images")),
    ssta=Group(AggregationOptions, panel="SST-A (thesis 3.3.2), with several experts"),
)
def extract_command(
    input: Annotated[
        Path,
        typer.Argument(
            help="A video or image file, a folder searched recursively, or a .txt list of paths (one a line). "
            "In a folder, every video and image is a clip, except that a sub-folder holding only images is one "
            "clip (its frames in natural order)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for shards and manifest.json.")],
    images: ImageInputOptions,
    fields: dict[str, Any],
    ssta: AggregationOptions,
    experts: Annotated[str, typer.Option(help=_EXPERTS_HELP)] = "yolo",
    device: Annotated[str, typer.Option(help="cpu or cuda:N.")] = "cpu",
    imgsz: Annotated[
        int,
        typer.Option(min=32, help="Network input size for full-frame experts; raise it for small people."),
    ] = 640,
    shard_index: Annotated[
        int | None,
        typer.Option(
            min=0, help="Do only part I of --num-shards (e.g. $SLURM_ARRAY_TASK_ID); writes OUT/part-I-of-N/."
        ),
    ] = None,
    num_shards: Annotated[
        int | None, typer.Option(min=1, help="Split the inputs into N parts by a stable hash of the clip id.")
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            help="Redo only the clips OUT/manifest.json records as failed (with the part flags: that part's)."
        ),
    ] = False,
    backend: Annotated[
        str, typer.Option(help="local (this process) or ray (Ray Data actors; pip install 'posekit\\[ray]').")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join: auto or HOST:PORT (default: start Ray on this machine)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Ray actors, each with its own copy of the models.")] = 1,
    num_gpus_per_worker: Annotated[
        float, typer.Option(min=0.0, help="GPUs per Ray actor (0: CPU only; 0.5: two actors share a GPU).")
    ] = 0.0,
    cpus_per_worker: Annotated[
        float | None, typer.Option(min=0.01, help="CPUs (torch threads) per Ray actor (default: CPUs / workers).")
    ] = None,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Times a clip is retried when its Ray worker process dies.")
    ] = 2,
    overwrite: Annotated[bool, typer.Option(help="Delete the shards and manifest already in OUT first.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Extract tracked 2D skeletons from videos into Parquet shards.

    Every video gets a status in OUT/manifest.json (done, failed with the reason); rerunning
    the same command skips what is done, so an interrupted run resumes where it stopped.
    Exit code: 0 all done, 1 some inputs failed, 2 bad usage.

    Example: posekit extract videos/ --out shards/ --experts yolo,mediapipe --imgsz 1280
    On a Ray cluster: posekit extract videos/ --out shards/ --backend ray --ray-address auto
    --workers 8 --num-gpus-per-worker 1 --device cuda:0 (see docs/cluster.md).
    """
    setup_logging(verbose)
    options = ExtractOptions(
        experts=tuple(parse_experts(experts)),
        estimator=EstimatorConfig(device=device, imgsz=imgsz),
        aggregation=ssta,
        images=images,
        **fields,
    )
    try:
        summary = run_extraction(
            input,
            out,
            options,
            overwrite=overwrite,
            progress=progress,
            partition=Partition.from_options(shard_index, num_shards),
            backend=make_backend(backend, ray_address, workers, num_gpus_per_worker, cpus_per_worker, max_retries),
            retry_failed=retry_failed,
        )
    except KeyboardInterrupt:
        console.print("interrupted: finished clips are saved; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_summary(summary)
    if summary.failed:
        raise typer.Exit(EXIT_INPUT_FAILED)


def make_backend(
    name: str,
    address: str | None,
    workers: int,
    num_gpus_per_worker: float,
    cpus_per_worker: float | None,
    max_retries: int,
) -> Backend:
    """The backend named by ``--backend``, with its options checked."""
    if name == "local":
        ray_only = {
            "--ray-address": address is not None,
            "--workers": workers != 1,
            "--num-gpus-per-worker": bool(num_gpus_per_worker),
            "--cpus-per-worker": cpus_per_worker is not None,
        }
        given = [flag for flag, set_ in ray_only.items() if set_]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --backend ray")
        return LocalBackend()
    if name == "ray":
        from posekit.workflows.extraction.ray_backend import RayBackend, RayOptions, import_ray

        import_ray()
        return RayBackend(RayOptions(address, workers, num_gpus_per_worker, cpus_per_worker, max_retries))
    raise ConfigError(f"unknown --backend {name!r}; use local or ray")


def print_summary(summary: RunSummary) -> None:
    table = Table(title=f"posekit extract -> {summary.out}", show_header=False)
    per_frame = f" ({summary.seconds / summary.frames * 1000:.0f} ms/frame)" if summary.frames else ""
    rows = [
        ("videos done", str(summary.done)),
        ("videos failed", str(summary.failed)),
        ("videos skipped (already done)", str(summary.skipped)),
        ("duplicate inputs (extracted once)", str(summary.duplicates)),
        ("frames", str(summary.frames)),
        ("person tracks", str(summary.tracks)),
        ("poses (person-frames kept)", str(summary.poses)),
        ("time", f"{summary.seconds:.1f} s{per_frame}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for reason in summary.failures:
        console.print(f"[red]failed:[/] {reason}", highlight=False, soft_wrap=True)
