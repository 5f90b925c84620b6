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
from typing import Annotated

import typer
from rich.table import Table

from posekit.cli.common import console, friendly_errors
from posekit.core.errors import ConfigError

train_app = typer.Typer(help="Train models on skeletons shards.", no_args_is_help=True, add_completion=False)

_OPTS = "Options (a --config file sets the same names)"


@train_app.command("unik", no_args_is_help=True)
@friendly_errors
def unik_train(
    data: Annotated[
        str | None, typer.Option(help="Skeletons shards with labels.json; train/ and val/ folders are the splits.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML or TOML file of these options (flags win).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Thesis schedule: posetics, smarthome, penn-action, ntu60, ntu120.")
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="Run folder: checkpoints, metrics, plots. [default: runs/unik]")
    ] = None,
    val_data: Annotated[str | None, typer.Option(help="Validation shards, if not DATA/val.")] = None,
    labels: Annotated[
        str | None, typer.Option(help="Labels sidecar (labels.json/.csv), if not beside the shards.")
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="joint, bone, joint_motion or bone_motion. [default: joint]")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="[default: 65]", rich_help_panel=_OPTS)] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Clips per step and process. [default: 32]", rich_help_panel=_OPTS)
    ] = None,
    lr: Annotated[float | None, typer.Option(help="[default: 0.1]", rich_help_panel=_OPTS)] = None,
    momentum: Annotated[float | None, typer.Option(help="[default: 0.9]", rich_help_panel=_OPTS)] = None,
    nesterov: Annotated[
        bool | None, typer.Option("--nesterov/--no-nesterov", help="[default: on]", rich_help_panel=_OPTS)
    ] = None,
    weight_decay: Annotated[float | None, typer.Option(help="[default: 1e-4]", rich_help_panel=_OPTS)] = None,
    lr_steps: Annotated[
        str | None,
        typer.Option(help="Epochs where the LR is multiplied by lr-gamma. [default: 45,55]", rich_help_panel=_OPTS),
    ] = None,
    lr_gamma: Annotated[float | None, typer.Option(help="[default: 0.1]", rich_help_panel=_OPTS)] = None,
    warmup_epochs: Annotated[
        float | None, typer.Option(help="Linear LR warm-up. [default: 0]", rich_help_panel=_OPTS)
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="Frames per training clip (random window). [default: 150]", rich_help_panel=_OPTS)
    ] = None,
    pad: Annotated[
        str | None, typer.Option(help="Short clips: loop or zero. [default: loop]", rich_help_panel=_OPTS)
    ] = None,
    center: Annotated[
        bool | None,
        typer.Option(
            "--center/--no-center",
            help="Centre each clip on its person's mean chest. [default: off]",
            rich_help_panel=_OPTS,
        ),
    ] = None,
    max_persons: Annotated[int | None, typer.Option(help="[default: 2]", rich_help_panel=_OPTS)] = None,
    num_heads: Annotated[int | None, typer.Option(help="S-LSU heads N. [default: 3]", rich_help_panel=_OPTS)] = None,
    tau: Annotated[int | None, typer.Option(help="S-LSU temporal window. [default: 1]", rich_help_panel=_OPTS)] = None,
    channels: Annotated[
        str | None,
        typer.Option(help="Block channels. [default: 64,64,64,64,128,128,128,256,256,256]", rich_help_panel=_OPTS),
    ] = None,
    strides: Annotated[
        str | None, typer.Option(help="Block temporal strides. [default: thesis]", rich_help_panel=_OPTS)
    ] = None,
    dilations: Annotated[
        str | None, typer.Option(help="Block T-LSU dilations. [default: thesis]", rich_help_panel=_OPTS)
    ] = None,
    dropout: Annotated[
        float | None, typer.Option(help="Before the classifier. [default: 0]", rich_help_panel=_OPTS)
    ] = None,
    clip_grad: Annotated[
        float | None, typer.Option(help="Max gradient norm, 0 = off. [default: 0]", rich_help_panel=_OPTS)
    ] = None,
    amp: Annotated[
        bool | None,
        typer.Option("--amp/--no-amp", help="Mixed precision on CUDA. [default: on]", rich_help_panel=_OPTS),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Data loader processes per training process. [default: 2]", rich_help_panel=_OPTS)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="[default: 0]", rich_help_panel=_OPTS)] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="Checkpoint whose backbone to start from; the classifier is new.")
    ] = None,
    linear_probe: Annotated[
        bool | None, typer.Option("--linear-probe/--no-linear-probe", help="Train only the classifier.")
    ] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume/--no-resume", help="Continue the run in --out from its last.pt.")
    ] = None,
    resume_from: Annotated[str | None, typer.Option(help="Continue from this checkpoint.")] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda, cuda:1. [default: auto]", rich_help_panel=_OPTS)
    ] = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Validate every N epochs. [default: 1]", rich_help_panel=_OPTS)
    ] = None,
    log_every: Annotated[
        int | None, typer.Option(help="Print every N steps, 0 = never. [default: 50]", rich_help_panel=_OPTS)
    ] = None,
    tensorboard: Annotated[
        bool | None,
        typer.Option("--tensorboard/--no-tensorboard", help="Also log TensorBoard events.", rich_help_panel=_OPTS),
    ] = None,
    stop_after_steps: Annotated[
        int | None, typer.Option(help="Stop as a kill would after N steps (tests).", rich_help_panel=_OPTS, hidden=True)
    ] = None,
) -> None:
    """Train UNIK (thesis 3.4) on skeletons shards: pre-train, fine-tune (--pretrained) or
    linear-probe (--linear-probe). Run under torchrun for several processes (DDP)."""
    overrides = {name: value for name, value in locals().items() if name != "config"}
    from posekit.workflows.unik.train import resolve_config, train

    train(resolve_config(overrides, config))


@friendly_errors
def unik_eval(
    data: Annotated[Path, typer.Option(help="Labelled skeletons shards (labels.json beside them).")],
    ckpt: Annotated[
        list[Path], typer.Option(help="A UNIK checkpoint; repeat it (joint, bone...) to fuse their scores.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write metrics.json, scores.npz and confusion.png here (fused/ for the fusion).")
    ] = None,
    scores: Annotated[list[Path] | None, typer.Option(help="Saved scores.npz of other runs to fuse in.")] = None,
    weights: Annotated[str | None, typer.Option(help="Fusion weights, one per run, e.g. 1,1.")] = None,
    window: Annotated[
        int | None, typer.Option(help="Frames per clip (centred); 0 = whole clips. [default: the run's]")
    ] = None,
    batch_size: Annotated[int, typer.Option()] = 32,
    device: Annotated[str, typer.Option()] = "cpu",
    workers: Annotated[int, typer.Option()] = 0,
) -> None:
    """Top-1/top-5 and per-class accuracy of UNIK checkpoints; late fusion of their scores."""
    from posekit.workflows.unik.evaluate import EvalResult, evaluate_checkpoint, fuse_runs, fused_metrics, load_scores

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
    for col in ("run", "stream", "clips", "top-1", "top-5"):
        table.add_column(col)
    for path, res in zip(ckpt, results):
        m = res.metrics
        table.add_row(str(path), m["stream"], str(m["num_samples"]), f"{m['top1']:.2%}", f"{m['top5']:.2%}")
    if len(runs) > 1:
        w = [float(v) for v in weights.split(",")] if weights else None
        if w is not None and len(w) != len(runs):
            raise ConfigError(f"--weights has {len(w)} values for {len(runs)} runs")
        fused = fuse_runs(runs, w)
        fm = fused_metrics(fused)
        table.add_row("fused", "+".join(r.metrics["stream"] for r in results), str(fm["num_samples"]),
                      f"{fm['top1']:.2%}", f"{fm['top5']:.2%}")  # fmt: skip
        if out is not None:
            EvalResult(
                fm, fused["clip_ids"].tolist(), fused["scores"], fused["labels"], tuple(fused["classes"].tolist())
            ).write(out / "fused")
    console.print(table)


@friendly_errors
def unik_predict(
    shards: Annotated[Path, typer.Argument(help="A skeletons shard file or folder.")],
    ckpt: Annotated[Path, typer.Option(help="A UNIK checkpoint.")],
    clip_id: Annotated[list[str] | None, typer.Option(help="Only this clip (repeatable).")] = None,
    top_k: Annotated[int, typer.Option(help="Labels per clip.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per clip on stdout.")] = False,
    device: Annotated[str, typer.Option()] = "cpu",
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
