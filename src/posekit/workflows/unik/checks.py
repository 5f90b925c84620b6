"""What UNIK training and evaluation take on trust otherwise: the training set and the checkpoint files.

A set whose joints are all missing trains a model on zeros, and one class scores 100 % top-1
whatever is learnt; both would otherwise pass silently and leave a ``best.pt``. A checkpoint
is read with ``weights_only=True``, and any failure to read it is one line naming the file.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from posekit.core.errors import ConfigError

log = logging.getLogger(__name__)

CHECKED_CLIPS = 64
"""Clips read (evenly spread over the set) to find usable joints."""


class LabelledClips(Protocol):
    """A training set: item ``i`` starts with the ``(C, T, V, M)`` input of clip ``i`` (missing joints 0 or NaN);
    ``targets`` is the ``(N,)`` class index of every clip."""

    targets: np.ndarray

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple: ...


def check_training_set(dataset: LabelledClips, classes: Sequence[str]) -> None:
    """Refuse (:class:`ConfigError`) a set without clips or without a usable joint in :data:`CHECKED_CLIPS` of
    its clips; warn when it holds one class, or when a class has no training clip."""
    if len(dataset) == 0:
        raise ConfigError("the training set holds no labelled clip; check that labels.json names its clip ids")
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(CHECKED_CLIPS, len(dataset))).astype(int))
    if not any(_has_joints(np.asarray(dataset[int(i)][0])) for i in picks):
        raise ConfigError(
            f"the training set has no usable joint: all {len(picks)} clip(s) checked hold only missing (NaN) "
            "joints; check the extraction (posekit inspect) before training"
        )
    counts = np.bincount(np.asarray(dataset.targets, np.int64), minlength=len(classes))
    if np.count_nonzero(counts) < 2:
        log.warning(
            "the training set holds one class (%s): top-1 will be 100 %% whatever the model learns; "
            "give labels with at least two classes",
            classes[int(np.argmax(counts))] if len(classes) else "?",
        )
    empty = [name for name, n in zip(classes, counts) if n == 0]
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        log.warning("%d class(es) have no training clip and cannot be learnt: %s", len(empty), shown)


def _has_joints(x: np.ndarray) -> bool:
    """Whether an input array holds a joint that is present (finite, not the 0 a loader puts for missing)."""
    return bool(np.any(np.isfinite(x) & (x != 0)))


def read_unik_checkpoint(path: Path | str, flag: str, weights_only_file: bool = False) -> dict[str, Any]:
    """The dict of a posekit UNIK checkpoint, read with ``torch.load(weights_only=True)`` (nothing in the file
    runs); :class:`ConfigError` naming ``flag`` and the file, in one line, when it is missing, damaged, holds
    code, or is not a UNIK checkpoint. ``weights_only_file`` also takes a bare ``state_dict`` (as ``--pretrained``
    does)."""
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: file not found") from None
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"it names {named.group(1)}" if named else "it holds objects other than tensors"
        raise ConfigError(
            f"{flag} {path}: refused, {what}, and nothing in it was run; give a checkpoint posekit train unik wrote"
        ) from None
    except (OSError, RuntimeError, ValueError, EOFError) as exc:
        raise ConfigError(
            f"{flag} {path}: not a readable PyTorch checkpoint ({type(exc).__name__}: empty, truncated or another "
            "format); give a checkpoint posekit train unik wrote"
        ) from None
    if not isinstance(ckpt, dict) or (not weights_only_file and ("model" not in ckpt or "model_args" not in ckpt)):
        raise ConfigError(f"{flag} {path}: not a posekit UNIK checkpoint (no model / model_args)")
    return ckpt
