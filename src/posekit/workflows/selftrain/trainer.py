"""Ultralytics' pose trainer and validator run offline on the pseudo labels, resumable from ``last.pt``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from posekit.core.errors import ConfigError, PosekitError
from posekit.estimators.yolo import load_yolo, read_checkpoint
from posekit.workflows.selftrain.options import SelfTrainOptions
from posekit.workflows.selftrain.pseudo_labels import PseudoLabelDataset
from posekit.workflows.selftrain.student import model_freeze_list

log = logging.getLogger(__name__)

TRAIN_DIR = "train"
"""Ultralytics' run folder inside the self-training folder (``train/weights/last.pt``, ``best.pt``)."""


@contextlib.contextmanager
def offline_training(device: str) -> Iterator[None]:
    """Keep Ultralytics' trainer off the network.

    - the dataset check calls ``check_font``, which fetches a font when none is cached
      (plots are off, so no font is needed);
    - on a GPU, ``check_amp`` loads (and would download) a reference model to compare FP32
      with AMP; AMP is enabled without that check (a CPU never uses AMP).
    """
    os.environ["YOLO_OFFLINE"] = "1"
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer_mod

    saved = (data_utils.check_font, trainer_mod.check_amp)
    data_utils.check_font = lambda *a, **k: None
    trainer_mod.check_amp = lambda model: device != "cpu"
    try:
        yield
    finally:
        data_utils.check_font, trainer_mod.check_amp = saved


def _metrics(results_dict: dict) -> dict:
    """Ultralytics' validation keys -> short names (box and pose precision, recall, mAP50, mAP50-95)."""
    names = {
        "metrics/precision(B)": "box_precision",
        "metrics/recall(B)": "box_recall",
        "metrics/mAP50(B)": "box_map50",
        "metrics/mAP50-95(B)": "box_map50_95",
        "metrics/precision(P)": "pose_precision",
        "metrics/recall(P)": "pose_recall",
        "metrics/mAP50(P)": "pose_map50",
        "metrics/mAP50-95(P)": "pose_map50_95",
    }
    return {short: round(float(results_dict[k]), 4) for k, short in names.items() if k in results_dict}


def _log_epoch(trainer) -> None:
    m = _metrics(trainer.metrics or {})
    loss = getattr(trainer, "tloss", None)
    values = loss.values() if isinstance(loss, dict) else ([] if loss is None else [loss])
    loss_text = f"{sum(float(v.sum()) for v in values):.3f}" if values else "-"
    log.info(
        "epoch %d/%d: train loss %s, val box mAP50 %s, pose mAP50 %s",
        trainer.epoch + 1,
        trainer.epochs,
        loss_text,
        m.get("box_map50", "-"),
        m.get("pose_map50", "-"),
    )


def validate(weights: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions) -> dict:
    """Box and pose metrics of ``weights`` on the pseudo labels' validation split, every class counted as a person."""
    model = load_yolo(weights)
    with offline_training(options.resolve()):
        res = model.val(
            data=str(dataset.data_yaml),
            split="val",
            imgsz=options.imgsz,
            batch=options.batch,
            device=options.resolve(),
            workers=options.workers,
            single_cls=True,
            plots=False,
            save_json=False,
            verbose=False,
            project=str(dataset.root.parent / TRAIN_DIR),
            name="val",
            exist_ok=True,
        )
    return _metrics(res.results_dict)


def train_student(
    init: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions, out: Path, progress: bool
) -> tuple[Path, bool]:
    """Fine-tune the student from ``init`` (or resume its ``last.pt``); its best weights and whether it resumed."""
    weights_dir = out / TRAIN_DIR / "weights"
    last = weights_dir / "last.pt"
    resumed = last.is_file()
    try:
        if not resumed:
            _train(init, None, dataset, options, out, progress)
        elif training_state(last) == "unfinished":
            _train(init, last, dataset, options, out, progress)
        else:
            log.info("training in %s had finished before the run stopped; writing its results", out)
    except PosekitError:
        raise
    except (FileNotFoundError, RuntimeError, ValueError, AssertionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PosekitError(f"self-training failed in {out}: {reason}") from exc
    best = weights_dir / "best.pt" if (weights_dir / "best.pt").is_file() else last
    if not best.is_file():
        raise PosekitError(f"self-training in {out} wrote no weights; rerun the same command to resume")
    return best, resumed


def training_state(last: Path) -> str:
    """``"unfinished"`` when Ultralytics can resume ``last.pt`` (optimizer state kept), else ``"finished"``.

    Ultralytics strips the optimizer from the checkpoints when training ends. The file is
    this run's own checkpoint, read safely (:func:`~posekit.estimators.yolo.read_checkpoint`).
    """
    try:
        ckpt = read_checkpoint(last)
    except ConfigError as exc:
        raise PosekitError(f"cannot resume from {last}: {exc}; delete it to restart training") from None
    return "unfinished" if ckpt.get("optimizer") is not None and ckpt.get("epoch", -1) >= 0 else "finished"


def _train(
    init: Path, last: Path | None, dataset: PseudoLabelDataset, options: SelfTrainOptions, out: Path, progress: bool
) -> None:
    """Run Ultralytics' pose trainer (or resume it from ``last``)."""
    from ultralytics import YOLO

    model = YOLO(str(last or init))
    model.add_callback("on_fit_epoch_end", _log_epoch)
    freeze = model_freeze_list(model.model, options)
    kwargs: dict = {
        "data": str(dataset.data_yaml),
        "epochs": options.epochs,
        "imgsz": options.imgsz,
        "batch": options.batch,
        "device": options.resolve(),
        "workers": options.workers,
        "seed": options.seed,
        "deterministic": True,
        "freeze": freeze,
        "plots": False,
        "project": str(out.resolve()),
        "name": TRAIN_DIR,
        "exist_ok": True,
        "patience": options.patience,
        "warmup_epochs": options.warmup_epochs,
        "optimizer": "AdamW",
        "lr0": options.lr0,
        "nbs": options.batch,
        "verbose": progress,
        "amp": options.resolve() != "cpu",
    }
    with offline_training(options.resolve()):
        if last is not None:
            log.info("resuming self-training from %s", last)
            keep = ("data", "device", "workers", "freeze", "plots")  # data: else Ultralytics fetches its default
            model.train(resume=True, **{k: kwargs[k] for k in keep})
        else:
            model.train(**kwargs)
