"""Which split each kept clip goes to: the annotations' official one, or a stratified train/val split."""

from __future__ import annotations

import math
from collections import defaultdict

from posekit.core.errors import ConfigError
from posekit.core.hashing import stable_hash
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.inputs import AnnotatedClip


def stratified_split(
    labels: dict[str, str], val_fraction: float, seed: int, every_class: bool = False
) -> dict[str, str]:
    """Clip id -> ``train``/``val``: ``round(N * val_fraction)`` of the ``N`` clips go to val (halves round up),
    spread over the classes in proportion to their size (largest remainders first, ties by class name), never
    a class's last train clip; within a class, the clips with the lowest stable hash of ``seed:clip_id``.

    ``every_class`` also gives every class of two or more clips at least one val clip (when ``val_fraction > 0``).
    """
    by_class: dict[str, list[str]] = defaultdict(list)
    for cid, label in labels.items():
        by_class[label].append(cid)
    share = {label: len(ids) * val_fraction for label, ids in by_class.items()}
    n_val = {label: min(math.floor(q), max(len(by_class[label]) - 1, 0)) for label, q in share.items()}
    left = math.floor(len(labels) * val_fraction + 0.5) - sum(n_val.values())
    for label in sorted(share, key=lambda c: (-(share[c] - math.floor(share[c])), c)):
        if left <= 0:
            break
        if n_val[label] < len(by_class[label]) - 1:
            n_val[label] += 1
            left -= 1
    out: dict[str, str] = {}
    for label, ids in by_class.items():
        ids.sort(key=lambda cid: (stable_hash(f"{seed}:{cid}"), cid))
        count = n_val[label]
        if every_class and val_fraction > 0 and len(ids) >= 2:
            count = min(max(count, 1), len(ids) - 1)
        for k, cid in enumerate(ids):
            out[cid] = "val" if k < count else "train"
    return out


def choose_split(
    annotated: dict[str, AnnotatedClip], kept: dict[str, str], options: BuildOptions
) -> tuple[dict[str, str], bool]:
    """The split of each kept clip, and whether it is the annotations' official one (``--split``)."""
    official = {cid: annotated[cid].split for cid in kept}
    has_official = all(s is not None for s in official.values())
    if options.split == "official" and not has_official:
        raise ConfigError("--split official: some clips have no split in the annotations; use --split stratified")
    if options.split == "official" or (options.split == "auto" and has_official):
        return {c: s for c, s in official.items() if s is not None}, True
    return stratified_split(kept, options.val_fraction, options.seed, options.val_every_class), False


def split_order(split_of: dict[str, str]) -> list[str]:
    """The split names in use, ``train`` first, then ``val``, then the others by name."""
    return sorted(set(split_of.values()), key=lambda s: (s != "train", s != "val", s))
