"""Train UNIK on skeletons shards: pre-training, fine-tuning, linear probing (thesis 3.4, 3.7.1).

Read top to bottom: the configuration and the thesis presets, distributed setup, data,
model, learning-rate schedule, one training epoch, evaluation, checkpoints, and the loop
that ties them together in :func:`train`.

One CPU, one GPU or many (DDP)::

    posekit train unik --data posetics/ --preset posetics --stream joint --out runs/joint
    torchrun --nproc_per_node 4 -m posekit train unik --data posetics/ --preset posetics

``--data`` is a folder of skeletons shards with a ``labels.json`` sidecar (see
:mod:`posekit.io.torch_dataset`); when it holds ``train/`` and ``val/`` folders those
are the splits, otherwise give ``--val-data``. The batch size is per process. The model's
``C`` (2D or 3D, ``--coords``) and ``V`` (the joints of ``--layout``, by default the shards'
own) come from the data; validation scores all frames of each clip (``--test-frames``).

Everything the run writes goes to ``--out``: ``config.yaml`` (the resolved configuration),
``last.pt`` every epoch and ``best.pt`` (best validation top-1), ``metrics.csv`` (one row
per epoch: the learning curve), ``metrics.json`` (history plus per-class accuracy and the
confusion matrix of the last evaluation), ``confusion.png``, ``val_scores.npz`` (for
late fusion) and, with ``--tensorboard``, TensorBoard events. Only rank 0 writes.

Repeatability: the model initialisation comes from ``seed``; epoch ``e`` shuffles with
``(seed, e)``, cuts random windows with ``(seed, e, clip)`` and seeds torch with
``(seed, e, rank)``. A run resumed from ``last.pt`` after a kill therefore repeats the lost
epoch exactly and ends with the metrics of an uninterrupted run.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as nnf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from posekit import __version__
from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.core.files import atomic_path
from posekit.core.jsonable import jsonable
from posekit.io.samples import LabelMap, find_labels
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.features import softmax
from posekit.unik.model import UNIK, count_parameters
from posekit.workflows.unik.checks import check_training_set
from posekit.workflows.unik.config import TrainConfig, save_config
from posekit.workflows.unik.evaluate import classification_metrics, save_confusion_png, save_scores

# ---------------------------------------------------------------------------------------------
# Distributed setup


@dataclass
class Dist:
    """Where this process runs: ``rank`` of ``world`` processes on ``device``."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(options: DeviceOptions) -> Dist:
    """Join the torchrun process group if there is one (NCCL on CUDA, gloo on CPU); with several processes
    on CUDA, each runs on its ``LOCAL_RANK`` GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = options.resolve()
    use_cuda = device.startswith("cuda")
    dev = torch.device("cuda", local_rank) if use_cuda and (world > 1 or device == "cuda") else torch.device(device)
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return Dist(rank, world, dev)


def _all_reduce_sum(values: list[float], d: Dist) -> list[float]:
    if d.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()


# ---------------------------------------------------------------------------------------------
# Data


def split_paths(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """Training and validation shard paths: ``data/train`` + ``data/val`` if present."""
    data = Path(cfg.data)
    if not data.exists():
        raise ConfigError(f"--data {data} does not exist")
    train = data / "train" if (data / "train").is_dir() else data
    if cfg.val_data:
        return train, Path(cfg.val_data)
    for name in ("val", "test"):
        if (data / name).is_dir():
            return train, data / name
    return train, None


def load_label_map(cfg: TrainConfig, train_path: Path) -> LabelMap:
    found = Path(cfg.labels) if cfg.labels else find_labels(train_path)
    if found is None:
        raise ConfigError(
            f"no labels for {train_path}: put a labels.json (classes + clip_id -> class) beside the "
            "shards or pass --labels"
        )
    return LabelMap.load(found)


def build_datasets(cfg: TrainConfig, labels: LabelMap) -> tuple[SkeletonShardDataset, SkeletonShardDataset | None]:
    train_path, val_path = split_paths(cfg)
    common = {
        "labels": labels,
        "stream": cfg.stream,
        "max_persons": cfg.max_persons,
        "pad": cfg.pad,
        "center": cfg.center,
        "layout": cfg.layout,
        "coords": cfg.coords,
        "normalise": cfg.normalise,
        "normalise_frames": cfg.frames,
    }
    train_set = SkeletonShardDataset(
        train_path, window=cfg.window, train=True, seed=cfg.seed, random_move=cfg.random_move, **common
    )
    if len(train_set) == 0:
        raise ConfigError(f"no labelled clips under {train_path} ({train_set.skipped} clips without a label)")
    if val_path is None:
        return train_set, None
    window = None if cfg.test_frames == "all" else cfg.window
    val_set = SkeletonShardDataset(val_path, window=window, train=False, **{**common, "layout": train_set.layout})
    return train_set, val_set


def build_loader(dataset: SkeletonShardDataset, cfg: TrainConfig, d: Dist, train: bool) -> DataLoader:
    sampler = DistributedSampler(dataset, num_replicas=d.world, rank=d.rank, shuffle=train, seed=cfg.seed)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        pin_memory=d.device.type == "cuda",
        prefetch_factor=4 if cfg.workers > 0 else None,
        collate_fn=dataset.collate_fn(),
    )


# ---------------------------------------------------------------------------------------------
# Model


def model_args(cfg: TrainConfig, num_classes: int, data: SkeletonShardDataset) -> dict[str, Any]:
    """Constructor arguments of :class:`UNIK`, stored in checkpoints to rebuild the model; ``C`` and ``V``
    are those of the training ``data``."""
    return {
        "num_classes": num_classes,
        "num_joints": data.layout.num_joints,
        "num_persons": cfg.max_persons,
        "in_channels": data.channels,
        "num_heads": cfg.num_heads,
        "tau": cfg.tau,
        "channels": tuple(cfg.channels),
        "strides": tuple(cfg.strides) if cfg.strides else None,
        "dilations": tuple(cfg.dilations) if cfg.dilations else None,
        "dropout": cfg.dropout,
    }


def load_pretrained(model: UNIK, path: Path | str) -> None:
    """Backbone weights of a checkpoint; the classifier stays new (fine-tuning, linear probe)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot load --pretrained {path}: {exc}") from exc
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else ckpt
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    missing = sorted(set(own) - set(state))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or shapes:
        raise ConfigError(
            f"--pretrained {path} does not fit this model: missing {missing[:3]}, other shapes {shapes[:3]} "
            "(channels, heads, tau, persons, joints (--layout) and coordinates (--coords) must match the "
            "pre-trained run)"
        )
    model.load_state_dict(state, strict=False)


def freeze_backbone(model: UNIK) -> None:
    """Linear probe: only the classifier learns; BatchNorm statistics stay as pre-trained."""
    for p in model.backbone_parameters():
        p.requires_grad_(False)


def set_train_mode(model: UNIK, cfg: TrainConfig) -> None:
    model.train()
    if cfg.linear_probe:
        for m in model.modules():
            if m is not model.fc:
                m.eval()
        model.fc.train()


# ---------------------------------------------------------------------------------------------
# Learning rate: linear warm-up, then x lr_gamma at each of lr_steps (epochs)


def lr_at(cfg: TrainConfig, epoch: float) -> float:
    """Learning rate at fractional ``epoch``."""
    warm = min(1.0, (epoch + 1e-9) / cfg.warmup_epochs) if cfg.warmup_epochs > 0 else 1.0
    return cfg.lr * warm * cfg.lr_gamma ** sum(epoch >= s for s in cfg.lr_steps)


# ---------------------------------------------------------------------------------------------
# One training epoch


class StepLimitReachedError(Exception):
    """``stop_after_steps`` reached: leave without saving, as a killed job would."""


def autocast(cfg: TrainConfig, d: Dist):
    if d.device.type != "cuda" or not cfg.amp:
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


class ProgressLog:
    """Training progress lines of the main process: every ``log_every`` steps and every ``log_seconds`` seconds.

    A line gives the epoch, the step within it and over the run, the mean loss so far this epoch, the learning
    rate, samples/s (all processes) and the time left for the epoch and the run, from this run's mean step time.
    """

    def __init__(self, cfg: TrainConfig, d: Dist, steps_per_epoch: int, first_step: int) -> None:
        self.cfg, self.d = cfg, d
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * cfg.epochs
        self.first_step = first_step
        self.started = self.last = time.perf_counter()

    def due(self, i: int, now: float) -> bool:
        """Whether step ``i`` (0-based, within the epoch) gets a line."""
        by_steps = bool(self.cfg.log_every) and (i + 1) % self.cfg.log_every == 0
        by_time = bool(self.cfg.log_seconds) and now - self.last >= self.cfg.log_seconds
        return self.d.main and (by_steps or by_time)

    def step(self, epoch: int, i: int, step: int, loss: float, lr: float, rate: float) -> None:
        """Print the line of step ``i`` of ``epoch`` (global ``step`` done) when it is due."""
        now = time.perf_counter()
        if not self.due(i, now):
            return
        self.last = now
        per_step = (now - self.started) / max(step - self.first_step, 1)
        epoch_left = (self.steps_per_epoch - i - 1) * per_step
        run_left = (self.total_steps - step) * per_step
        print(
            f"  epoch {epoch + 1}/{self.cfg.epochs} step {i + 1}/{self.steps_per_epoch} "
            f"(run {step}/{self.total_steps}) loss {loss:.4f} lr {lr:.4g} {rate:.1f} samples/s "
            f"ETA epoch {_duration(epoch_left)}, run {_duration(run_left)}",
            flush=True,
        )


def _duration(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m05s`` or ``42s``."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def train_one_epoch(
    model: torch.nn.Module,
    raw: UNIK,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
    d: Dist,
    epoch: int,
    step: int,
    progress: ProgressLog | None = None,
) -> tuple[dict[str, float], int]:
    """Train one epoch from global ``step``; return its loss/top-1 over all ranks and the step.

    ``progress`` prints the progress lines (a fresh :class:`ProgressLog` for this epoch when None)."""
    set_train_mode(raw, cfg)
    steps_per_epoch = len(loader)
    progress = progress if progress is not None else ProgressLog(cfg, d, steps_per_epoch, step)
    loss_sum = correct = seen = 0.0
    t0 = time.perf_counter()
    for i, (x, y, _) in enumerate(loader):
        if cfg.stop_after_steps and step >= cfg.stop_after_steps:
            raise StepLimitReachedError(step)
        lr = lr_at(cfg, epoch + i / steps_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = x.to(d.device, non_blocking=True)
        y = y.to(d.device, non_blocking=True)
        with autocast(cfg, d):
            logits = model(x)
            loss = nnf.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.clip_grad > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        n = len(y)
        loss_sum += float(loss.detach()) * n
        correct += float((logits.detach().argmax(1) == y).sum())
        seen += n
        progress.step(epoch, i, step, loss_sum / seen, lr, seen * d.world / (time.perf_counter() - t0))
    loss_sum, correct, seen = _all_reduce_sum([loss_sum, correct, seen], d)
    elapsed = time.perf_counter() - t0
    stats = {"train_loss": loss_sum / max(seen, 1), "train_top1": correct / max(seen, 1), "lr": lr_at(cfg, epoch)}
    stats["train_samples_per_s"] = seen / max(elapsed, 1e-9)
    return stats, step


# ---------------------------------------------------------------------------------------------
# Evaluation over all ranks


@torch.no_grad()
def gather_logits(
    model: UNIK, loader: DataLoader, cfg: TrainConfig, d: Dist
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, K)`` logits, ``(N,)`` labels and ``(N,)`` dataset indices of the whole loader's
    dataset, collected from every rank (the sampler's padding duplicates removed)."""
    model.eval()
    logits, labels, indices = [], [], []
    for x, y, idx in loader:
        with autocast(cfg, d):
            logits.append(model(x.to(d.device, non_blocking=True)).float())
        labels.append(y.to(d.device))
        indices.append(idx.to(d.device))
    out = [torch.cat(v) if v else torch.zeros(0, device=d.device) for v in (logits, labels, indices)]
    if d.world > 1:
        gathered = []
        for t in out:
            parts = [torch.empty_like(t) for _ in range(d.world)]
            dist.all_gather(parts, t.contiguous())
            gathered.append(torch.cat(parts))
        out = gathered
    lg, lb, ix = (t.cpu().numpy() for t in out)
    ix, first = np.unique(ix.astype(np.int64), return_index=True)
    return lg[first], lb[first].astype(np.int64), ix


# ---------------------------------------------------------------------------------------------
# Checkpoints (rank 0 writes; atomic; loadable with weights_only=True)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume_path(cfg: TrainConfig) -> Path | None:
    if cfg.resume_from:
        return Path(cfg.resume_from)
    if cfg.resume:
        last = Path(cfg.out) / "last.pt"
        return last if last.is_file() else None
    return None


# ---------------------------------------------------------------------------------------------
# Metrics files


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.csv``: one row per epoch (the learning curve)."""
    if not history:
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(out / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def _tensorboard(cfg: TrainConfig, out: Path):
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed: --tensorboard ignored (pip install tensorboard)", file=sys.stderr)
        return None
    return SummaryWriter(str(out / "tensorboard"))


# ---------------------------------------------------------------------------------------------
# The loop


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run training as configured; return the final metrics (on rank 0; others get ``{}``)."""
    d = setup_distributed(cfg)
    try:
        metrics = _train(cfg, d)
        if d.world > 1:
            dist.barrier()  # every rank leaves together: one that left while rank 0 still wrote once aborted in gloo
        return metrics
    finally:
        if d.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class Run:
    """What the loop works on: the data, the model and its optimiser, and the epochs done so far."""

    labels: LabelMap
    train_set: SkeletonShardDataset
    val_set: SkeletonShardDataset | None
    train_loader: DataLoader
    val_loader: DataLoader | None
    raw: UNIK
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    start_epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best: float = -1.0


def prepare_run(cfg: TrainConfig, d: Dist) -> Run:
    """Data, model (pre-trained or frozen as asked), optimiser and gradient scaler of a fresh run."""
    train_path, _ = split_paths(cfg)
    labels = load_label_map(cfg, train_path)
    train_set, val_set = build_datasets(cfg, labels)
    check_training_set(train_set, labels.classes)
    train_loader = build_loader(train_set, cfg, d, train=True)
    val_loader = build_loader(val_set, cfg, d, train=False) if val_set is not None else None
    torch.manual_seed(cfg.seed)
    raw = UNIK(**model_args(cfg, labels.num_classes, train_set))
    if cfg.pretrained:
        load_pretrained(raw, cfg.pretrained)
    if cfg.linear_probe:
        freeze_backbone(raw)
    raw.to(d.device)
    model: torch.nn.Module = raw
    if d.world > 1:
        model = DistributedDataParallel(raw, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    params = [p for p in raw.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )
    use_scaler = d.device.type == "cuda" and cfg.amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler(d.device.type, enabled=use_scaler)
    return Run(labels, train_set, val_set, train_loader, val_loader, raw, model, optimizer, scaler)


def restore(run: Run, path: Path, d: Dist) -> None:
    """Continue ``run`` from the checkpoint at ``path`` (model, optimiser, scaler, history, best score)."""
    state = torch.load(path, map_location=d.device, weights_only=True)
    run.raw.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.start_epoch, run.step = int(state["epoch"]), int(state["step"])
    run.history, run.best = list(state.get("history", [])), float(state.get("best_score", -1.0))
    if d.main:
        print(f"resumed from {path} after epoch {run.start_epoch}", flush=True)


def checkpoint_state(run: Run, cfg: TrainConfig, epoch: int) -> dict[str, Any]:
    """What ``last.pt`` / ``best.pt`` hold after ``epoch`` epochs (``layout``: the JSON of the joint layout the
    model reads, so that a user layout evaluates without its file)."""
    return {
        "model": run.raw.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else None,
        "epoch": epoch,
        "step": run.step,
        "model_args": model_args(cfg, run.labels.num_classes, run.train_set),
        "layout": run.train_set.layout.to_json(),
        "classes": list(run.labels.classes),
        "config": jsonable(dataclasses.asdict(cfg)),
        "history": run.history,
        "best_score": run.best,
        "metric": cfg.metric,
        "posekit_version": __version__,
    }


def save_epoch(run: Run, cfg: TrainConfig, out: Path, row: dict[str, Any], final: dict[str, Any], tb: Any) -> None:
    """Rank 0's files after an epoch: checkpoints, learning curve, metrics, confusion plot and TensorBoard."""
    epoch, evaluated = row["epoch"], f"val_{cfg.metric}" in row
    is_best = evaluated and row[f"val_{cfg.metric}"] > run.best
    run.best = max(run.best, row.get(f"val_{cfg.metric}", run.best))
    state = checkpoint_state(run, cfg, epoch)
    save_checkpoint(out / "last.pt", state)
    if is_best:
        save_checkpoint(out / "best.pt", state)
    write_history(out, run.history)
    summary = {"history": run.history, f"best_val_{cfg.metric}": run.best, "parameters": count_parameters(run.raw)}
    if evaluated:
        summary["last_eval"] = {k: v for k, v in final.items() if k not in ("logits", "labels", "indices")}
        save_confusion_png(np.asarray(final["confusion"]), run.labels.classes, out / "confusion.png",
                           f"epoch {epoch}: top-1 {final['top1']:.1%}")  # fmt: skip
        clip_ids = [run.val_set.clip_ids[i] for i in final["indices"]]
        save_scores(out / "val_scores.npz", clip_ids, softmax(final["logits"]), final["labels"], run.labels.classes)
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    if tb is not None:
        for k, v in row.items():
            if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                tb.add_scalar(k, v, epoch)


def validate(run: Run, cfg: TrainConfig, d: Dist) -> dict[str, Any]:
    """Metrics of the validation split on every rank, with its logits, labels and dataset indices."""
    logits, y, idx = gather_logits(run.raw, run.val_loader, cfg, d)
    return {**classification_metrics(logits, y, run.labels.classes), "logits": logits, "labels": y, "indices": idx}


def _train(cfg: TrainConfig, d: Dist) -> dict[str, Any]:
    out = Path(cfg.out)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    ckpt_path = resume_path(cfg)
    if not ckpt_path and not cfg.resume and (out / "last.pt").exists():
        raise ConfigError(f"{out} already holds a run (last.pt): pass --resume to continue it or choose another --out")
    run = prepare_run(cfg, d)
    if ckpt_path:
        restore(run, ckpt_path, d)
    tb = _tensorboard(cfg, out) if d.main else None
    if d.main:
        print(
            f"UNIK {count_parameters(run.raw):,} parameters ({count_parameters(run.raw, True):,} trainable), "
            f"{run.labels.num_classes} classes, {len(run.train_set)} train / "
            f"{len(run.val_set) if run.val_set else 0} val clips, {run.train_set.layout.name} "
            f"{run.train_set.coords} x {run.train_set.channels}, stream {cfg.stream}, "
            f"{d.world} process(es) on {d.device}",
            flush=True,
        )
    final: dict[str, Any] = {}
    progress = ProgressLog(cfg, d, len(run.train_loader), run.step)
    for epoch in range(run.start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + epoch * 1009 + d.rank)
        run.train_loader.sampler.set_epoch(epoch)
        run.train_set.set_epoch(epoch)
        try:
            row, run.step = train_one_epoch(
                run.model, run.raw, run.train_loader, run.optimizer, run.scaler, cfg, d, epoch, run.step, progress
            )
        except StepLimitReachedError as stop:
            if d.main:
                print(f"stopped after {stop.args[0]} steps (stop_after_steps), epoch {epoch + 1} not saved", flush=True)
            return {}
        row = {"epoch": epoch + 1, **row}
        if run.val_loader is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            final = validate(run, cfg, d)
            row.update({f"val_{k}": final[k] for k in ("loss", "top1", "top5", "mean_class")})
        row["time_s"] = time.perf_counter() - t0
        run.history.append(row)
        if d.main:
            save_epoch(run, cfg, out, row, final, tb)
            print(_epoch_line(row, cfg.epochs), flush=True)
    if tb is not None:
        tb.close()
    last = {k: v for k, v in final.items() if k not in ("logits", "labels", "indices")}
    return {"history": run.history, "last_eval": last, f"best_val_{cfg.metric}": run.best} if d.main else {}


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    text = (
        f"epoch {row['epoch']}/{epochs} lr {row['lr']:.4g} train loss {row['train_loss']:.4f} "
        f"top-1 {row['train_top1']:.1%}"
    )
    if "val_top1" in row:
        text += (
            f" | val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.1%} top-5 {row['val_top5']:.1%} "
            f"mean class {row['val_mean_class']:.1%}"
        )
    return text + f" | {row['time_s']:.1f} s"
