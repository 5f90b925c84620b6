"""Evaluate, predict with and fuse UNIK checkpoints (thesis 3.7: top-1/top-5, joint+bone fusion).

A checkpoint (written by :mod:`posekit.workflows.unik.train`) holds the model weights, the arguments
that rebuild the model, the class names and the training configuration, so evaluation needs
nothing else: the stream, window and persons of the run are reused unless overridden.

Score files (``scores.npz``, no pickled objects) hold ``clip_ids`` (N,) str, ``scores``
(N, K) float32 softmax probabilities, ``labels`` (N,) int64 (-1 unknown) and ``classes``
(K,) str; :func:`fuse_score_files` sums the scores of several runs clip by clip (eq. of the
joint-bone two-stream fusion, 3.4.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from posekit.core.device import DEFAULT_DEVICE, DeviceOptions
from posekit.core.errors import ConfigError
from posekit.io.samples import LabelMap, find_labels
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.features import fuse_scores, softmax
from posekit.skeleton.layouts import JointLayout
from posekit.unik.model import UNIK
from posekit.workflows.unik.checks import read_unik_checkpoint


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of ``(N, K)`` score rows whose top ``k`` classes hold the label (labels < 0 skipped)."""
    keep = labels >= 0
    if not keep.any():
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores[keep], axis=1, kind="stable")[:, :k]
    return float((top == labels[keep, None]).any(axis=1).mean())


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts, rows = true class, columns = predicted class."""
    keep = labels >= 0
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels[keep], predicted[keep]), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """``(K,)`` recall of each class from a confusion matrix; NaN for classes with no sample."""
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


def mean_class_accuracy(cm: np.ndarray) -> float:
    """Mean of the per-class accuracies over the classes with samples (Toyota Smarthome's protocol)."""
    accuracies = per_class_accuracy(cm)
    return float(np.nanmean(accuracies)) if np.isfinite(accuracies).any() else float("nan")


def classification_metrics(logits: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Loss, top-1, top-5, mean class accuracy, per-class accuracy and confusion matrix of ``(N, K)`` logits."""
    keep = labels >= 0
    log_probs = torch.log_softmax(torch.as_tensor(logits[keep], dtype=torch.float64), dim=1)
    loss = float(torch.nn.functional.nll_loss(log_probs, torch.as_tensor(labels[keep]))) if keep.any() else float("nan")
    cm = confusion_matrix(logits.argmax(axis=1), labels, len(classes))
    return {
        "loss": loss,
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
        "mean_class": mean_class_accuracy(cm),
        "per_class": {name: float(acc) for name, acc in zip(classes, per_class_accuracy(cm))},
        "confusion": cm.tolist(),
        "num_samples": int(keep.sum()),
    }


def save_confusion_png(cm: np.ndarray, classes: tuple[str, ...], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix as a PNG (true class down, predicted across)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    K = len(classes)
    size = min(4 + 0.35 * K, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    if K <= 60:
        ax.set_xticks(range(K), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(K), classes, fontsize=8)
        if K <= 20:
            for i in range(K):
                for j in range(K):
                    if cm[i, j]:
                        color = "white" if norm[i, j] > 0.5 else "black"
                        ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, with what it was trained on."""

    model: UNIK
    classes: tuple[str, ...]
    config: dict[str, Any]
    epoch: int
    layout: JointLayout | None = None


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the UNIK of a training checkpoint (loaded with ``weights_only=True``) on the torch ``device``."""
    path = Path(path)
    ckpt = read_unik_checkpoint(path, "--ckpt")
    model = UNIK(**ckpt["model_args"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"--ckpt {path}: its weights do not fit the model it describes ({reason})") from None
    model.to(device).eval()
    classes, config = tuple(ckpt.get("classes", ())), dict(ckpt.get("config", {}))
    layout = JointLayout.from_json(ckpt["layout"]) if ckpt.get("layout") else None
    return LoadedModel(model, classes, config, int(ckpt.get("epoch", 0)), layout)


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    dataset: SkeletonShardDataset,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    workers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K)`` float32 logits and ``(N,)`` labels of every item of ``dataset``, in order."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=dataset.collate_fn())
    logits, labels = [], []
    for x, y, _ in loader:
        logits.append(model(x.to(device, non_blocking=True)).float().cpu().numpy())
        labels.append(y.numpy())
    if not logits:
        return np.zeros((0, getattr(model, "num_classes", 0)), np.float32), np.zeros(0, np.int64)
    return np.concatenate(logits), np.concatenate(labels)


def eval_split(data: Path | str) -> Path:
    """The shards to evaluate on: a split folder as given, or the ``val`` (else ``test``) split of a dataset root."""
    data = Path(data)
    for name in ("val", "test"):
        if (data / name).is_dir():
            return data / name
    return data


def dataset_for(
    loaded: LoadedModel,
    data: Path | str,
    labels: LabelMap | Path | str | None = "auto",
    stream: str | None = None,
    window: int | str | None = "config",
    clip_ids: list[str] | None = None,
) -> SkeletonShardDataset:
    """An evaluation dataset read the way the checkpoint's run read its data: its layout, coordinates and
    normalisation; all frames of each clip (or the centred window of runs trained with ``test_frames=window``)."""
    cfg = loaded.config
    if window == "config":
        window = cfg.get("window", 150) if cfg.get("test_frames", "window") == "window" else None
    if isinstance(labels, str) and labels == "auto":
        found = find_labels(Path(data))
        labels = LabelMap.load(found) if found else None
        if labels is not None and loaded.classes and tuple(labels.classes) != loaded.classes:
            known = {c: n for c, n in labels.clips.items() if n in loaded.classes}
            labels = LabelMap(loaded.classes, known)
    ds = SkeletonShardDataset(
        data,
        labels=labels,
        window=window or None,
        train=False,
        stream=stream or cfg.get("stream", "joint"),
        max_persons=loaded.model.num_persons,
        layout=loaded.layout or cfg.get("layout", "auto"),
        pad=cfg.get("pad", "loop"),
        center=bool(cfg.get("center", False)),
        clip_ids=clip_ids,
        coords=cfg.get("coords", "2d"),
        normalise=cfg.get("normalise", "none"),
        normalise_frames=cfg.get("frames"),
    )
    expected = (loaded.model.in_channels, loaded.model.num_joints)
    if (ds.channels, ds.layout.num_joints) != expected:
        raise ConfigError(
            f"{data} gives {ds.channels} coordinates x {ds.layout.num_joints} joints ({ds.layout.name}), the "
            f"checkpoint expects {expected[0]} x {expected[1]}"
        )
    return ds


def save_scores(
    path: Path, clip_ids: list[str], scores: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]
) -> None:
    np.savez(
        path,
        clip_ids=np.asarray(clip_ids, dtype=str),
        scores=np.asarray(scores, dtype=np.float32),
        labels=np.asarray(labels, dtype=np.int64),
        classes=np.asarray(classes, dtype=str),
    )


def load_scores(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in ("clip_ids", "scores", "labels", "classes")}


@dataclass
class EvalResult:
    """Metrics of a run on a dataset and its ``(N, K)`` softmax scores, clip by clip."""

    metrics: dict[str, Any]
    clip_ids: list[str]
    scores: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def as_scores(self) -> dict[str, np.ndarray]:
        """The score-file dictionary (see the module docstring)."""
        return {
            "clip_ids": np.asarray(self.clip_ids, dtype=str),
            "scores": self.scores.astype(np.float32),
            "labels": self.labels,
            "classes": np.asarray(self.classes, dtype=str),
        }

    def write(self, out: Path) -> None:
        """``metrics.json``, ``scores.npz`` and ``confusion.png`` in ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.metrics, indent=1))
        save_scores(out / "scores.npz", self.clip_ids, self.scores, self.labels, self.classes)
        title = f"top-1 {self.metrics['top1']:.1%} on {self.metrics.get('num_samples', '?')} clips"
        save_confusion_png(np.asarray(self.metrics["confusion"]), self.classes, out / "confusion.png", title)


def evaluate_checkpoint(
    ckpt: Path | str,
    data: Path | str,
    batch_size: int = 32,
    device: DeviceOptions = DEFAULT_DEVICE,
    stream: str | None = None,
    window: int | str | None = "config",
    workers: int = 0,
) -> EvalResult:
    """Metrics of one checkpoint on the labelled shards at ``data`` (centred windows, or whole
    clips with ``window=None``)."""
    where = device.resolve()
    loaded = load_checkpoint(ckpt, where)
    ds = dataset_for(loaded, data, stream=stream, window=window)
    if ds.labels is None:
        raise ConfigError(f"no labels for {data}: evaluation needs a labels.json beside the shards")
    logits, labels = predict_logits(loaded.model, ds, batch_size, where, workers)
    metrics = classification_metrics(logits, labels, loaded.classes)
    metrics.update(checkpoint=str(ckpt), data=str(data), stream=ds.stream, epoch=loaded.epoch)
    return EvalResult(metrics, list(ds.clip_ids), softmax(logits), labels, loaded.classes)


def fuse_runs(runs: list[dict[str, np.ndarray]], weights: list[float] | None = None) -> dict[str, np.ndarray]:
    """Sum the softmax scores of several runs (score-file dictionaries, e.g. a joint and a bone
    run) on the clips they share, weighted by ``weights``; thesis 3.4.1 two-stream fusion."""
    classes = runs[0]["classes"]
    for k, run in enumerate(runs):
        if list(run["classes"]) != list(classes):
            raise ConfigError(f"run {k} scores other classes than run 0: cannot fuse")
    common = sorted(set.intersection(*(set(r["clip_ids"].tolist()) for r in runs)))
    if not common:
        raise ConfigError("the runs share no clip ids: cannot fuse")
    aligned, labels = [], None
    for run in runs:
        where = {c: i for i, c in enumerate(run["clip_ids"].tolist())}
        rows = [where[c] for c in common]
        aligned.append(run["scores"][rows])
        labels = run["labels"][rows] if labels is None else labels
    return {
        "clip_ids": np.asarray(common, dtype=str),
        "scores": fuse_scores(aligned, weights).astype(np.float32),
        "labels": labels,
        "classes": classes,
    }


def fuse_score_files(paths: list[Path | str], weights: list[float] | None = None) -> dict[str, np.ndarray]:
    """:func:`fuse_runs` of saved ``scores.npz`` files."""
    return fuse_runs([load_scores(Path(p)) for p in paths], weights)


def fused_metrics(fused: dict[str, np.ndarray]) -> dict[str, Any]:
    """Top-1/top-5 (and the rest) of fused scores; the 'loss' is of the normalised fused scores."""
    scores = fused["scores"] / np.maximum(fused["scores"].sum(axis=1, keepdims=True), 1e-12)
    return classification_metrics(np.log(np.maximum(scores, 1e-12)), fused["labels"], tuple(fused["classes"].tolist()))


def predict_topk(
    ckpt: Path | str,
    data: Path | str,
    clip_ids: list[str] | None = None,
    k: int = 5,
    device: DeviceOptions = DEFAULT_DEVICE,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Top-``k`` ``(label, probability)`` of each clip at ``data`` (all, or ``clip_ids``)."""
    where = device.resolve()
    loaded = load_checkpoint(ckpt, where)
    ds = dataset_for(loaded, data, labels=None, clip_ids=clip_ids)
    if clip_ids:
        unknown = sorted(set(clip_ids) - set(ds.clip_ids))
        if unknown:
            raise ConfigError(f"no clip {unknown[0]!r} in {data}")
    logits, _ = predict_logits(loaded.model, ds, batch_size, where)
    probs = softmax(logits)
    classes = loaded.classes or tuple(str(i) for i in range(probs.shape[1]))
    out = []
    for cid, row in zip(ds.clip_ids, probs):
        top = np.argsort(-row, kind="stable")[:k]
        out.append({"clip_id": cid, "top": [(classes[j], float(row[j])) for j in top]})
    return out
