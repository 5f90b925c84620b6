"""``posekit train unik``, ``posekit eval unik``, ``posekit predict unik``.

Objects to register in ``posekit.cli.app``::

    app.add_typer(train_app, name="train")
    eval_app.command("unik", no_args_is_help=True)(unik_eval)
    predict_app.command("unik", no_args_is_help=True)(unik_predict)

where ``eval_app`` and ``predict_app`` are the ``posekit eval`` / ``posekit predict`` groups.
Under torchrun the same command runs as ``torchrun ... -m posekit train unik ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from posekit.cli.common import console, friendly_errors
from posekit.cli.options import Group, with_options
from posekit.core.device import DEFAULT_DEVICE, DeviceOptions
from posekit.core.errors import ConfigError
from posekit.workflows.unik.config import TrainConfig

train_app = typer.Typer(help="Train models on skeletons shards.", no_args_is_help=True, add_completion=False)


@train_app.command("unik", no_args_is_help=True)
@friendly_errors
@with_options(overrides=Group(TrainConfig, mode="given"))
def unik_train(
    overrides: dict[str, Any],
    config: Annotated[Path | None, typer.Option(help="YAML or TOML file of these options (flags win).")] = None,
) -> None:
    """Train UNIK (thesis 3.4) on skeletons shards: pre-train, fine-tune (--pretrained) or
    linear-probe (--linear-probe). Run under torchrun for several processes (DDP).

    Options resolve as defaults < --preset < --config file < flags given."""
    from posekit.workflows.unik.config import resolve_config
    from posekit.workflows.unik.train import train

    train(resolve_config(overrides, config))


CONFUSION_TABLE_CLASSES = 60
"""Confusion matrices of up to this many classes are printed as a terminal table (larger ones: --out's PNG)."""


def _class_tables(metrics: dict[str, Any], classes: tuple[str, ...], title: str) -> None:
    """Print the per-class accuracy table and, for up to :data:`CONFUSION_TABLE_CLASSES` classes, the confusion
    matrix (rows: true class, columns: predicted class, by class number)."""
    cm = metrics["confusion"]
    per_class = Table(title=f"{title}: per class (mean class accuracy {metrics['mean_class']:.2%})")
    for col in ("#", "class", "clips", "accuracy"):
        per_class.add_column(col, justify="left" if col == "class" else "right")
    for k, name in enumerate(classes):
        acc = metrics["per_class"][name]
        per_class.add_row(str(k), name, str(sum(cm[k])), "-" if acc != acc else f"{acc:.1%}")
    console.print(per_class)
    if len(classes) > CONFUSION_TABLE_CLASSES:
        console.print(f"{len(classes)} classes: the confusion matrix is written as a PNG with --out")
        return
    matrix = Table(title=f"{title}: confusion (rows true, columns predicted)")
    matrix.add_column("true \\ predicted")
    for k in range(len(classes)):
        matrix.add_column(str(k), justify="right")
    for k, row in enumerate(cm):
        matrix.add_row(f"{k} {classes[k]}", *(str(v) if v else "." for v in row))
    console.print(matrix)


@friendly_errors
@with_options(device=DeviceOptions)
def unik_eval(
    data: Annotated[
        Path,
        typer.Option(help="A labelled dataset (its val split is scored) or a split folder of skeletons shards."),
    ],
    ckpt: Annotated[
        list[Path], typer.Option(help="A UNIK checkpoint; repeat it (joint, bone...) to fuse their scores.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write metrics.json, scores.npz and confusion.png here (fused/ for the fusion).")
    ] = None,
    scores: Annotated[list[Path] | None, typer.Option(help="Saved scores.npz of other runs to fuse in.")] = None,
    weights: Annotated[str | None, typer.Option(help="Fusion weights, one per run, e.g. 1,1.")] = None,
    window: Annotated[
        int | None, typer.Option(help="Frames per clip (centred); 0 = whole clips.", show_default="the run's")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Clips per forward pass.")] = 32,
    workers: Annotated[int, typer.Option(help="Data loader processes.")] = 0,
    device: DeviceOptions = DEFAULT_DEVICE,
) -> None:
    """Top-1, top-5, mean class accuracy, per-class accuracy and the confusion matrix of UNIK checkpoints (all
    frames of each clip, as the runs validated); late fusion of their scores."""
    from posekit.workflows.unik.evaluate import (
        EvalResult,
        eval_split,
        evaluate_checkpoint,
        fuse_runs,
        fused_metrics,
        load_scores,
    )

    data = eval_split(data)
    results: list[EvalResult] = []
    for k, path in enumerate(ckpt):
        res = evaluate_checkpoint(
            path, data, batch_size, device, window="config" if window is None else window, workers=workers
        )
        results.append(res)
        if out is not None:
            res.write(out if len(ckpt) == 1 and not scores else out / f"run{k}-{res.metrics['stream']}")
    runs = [r.as_scores() for r in results] + [load_scores(p) for p in scores or []]
    table = Table(title=f"UNIK on {data}")
    for col in ("run", "stream", "clips", "top-1", "top-5", "mean class"):
        table.add_column(col)
    for path, res in zip(ckpt, results):
        m = res.metrics
        table.add_row(str(path), m["stream"], str(m["num_samples"]), f"{m['top1']:.2%}", f"{m['top5']:.2%}",
                      f"{m['mean_class']:.2%}")  # fmt: skip
    shown = (results[-1].metrics, results[-1].classes, str(ckpt[-1]))
    if len(runs) > 1:
        w = [float(v) for v in weights.split(",")] if weights else None
        if w is not None and len(w) != len(runs):
            raise ConfigError(f"--weights has {len(w)} values for {len(runs)} runs")
        fused = fuse_runs(runs, w)
        fm = fused_metrics(fused)
        table.add_row("fused", "+".join(r.metrics["stream"] for r in results), str(fm["num_samples"]),
                      f"{fm['top1']:.2%}", f"{fm['top5']:.2%}", f"{fm['mean_class']:.2%}")  # fmt: skip
        shown = (fm, tuple(fused["classes"].tolist()), "fused")
        if out is not None:
            EvalResult(
                fm, fused["clip_ids"].tolist(), fused["scores"], fused["labels"], tuple(fused["classes"].tolist())
            ).write(out / "fused")
    console.print(table)
    _class_tables(*shown)


@friendly_errors
@with_options(device=DeviceOptions)
def unik_predict(
    shards: Annotated[Path, typer.Argument(help="A skeletons shard file or folder.")],
    ckpt: Annotated[Path, typer.Option(help="A UNIK checkpoint.")],
    clip_id: Annotated[list[str] | None, typer.Option(help="Only this clip (repeatable).")] = None,
    top_k: Annotated[int, typer.Option(help="Labels per clip.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per clip on stdout.")] = False,
    device: DeviceOptions = DEFAULT_DEVICE,
) -> None:
    """Top-k action labels of each clip (or of the given clips) with a UNIK checkpoint."""
    from posekit.workflows.unik.evaluate import predict_topk

    predictions = predict_topk(ckpt, shards, clip_id, top_k, device)
    if as_json:
        for p in predictions:
            typer.echo(json.dumps({"clip_id": p["clip_id"], "top": [[n, round(s, 6)] for n, s in p["top"]]}))
        return
    table = Table(title=f"{ckpt.name} on {shards}")
    table.add_column("clip")
    for k in range(top_k):
        table.add_column(f"#{k + 1}")
    for p in predictions:
        table.add_row(p["clip_id"], *(f"{n} {s:.1%}" for n, s in p["top"]))
    console.print(table)
