"""Scale-aware people finding: a second pass of a one-stage expert that sees the frame larger.

A full-frame pass at input size ``S`` sees a person ``h`` pixels tall at ``h * S / L`` network pixels
(``L`` the frame's long side): small people in large frames fall below what the network finds. An expert
whose input size can change runs the whole frame again at ``n * S`` (the zoom pass,
:meth:`~posekit.estimators.base.OneStageExpert._zoom_pass`); one with a fixed input takes the tile
pass: the frame cut into ``n x n`` overlapping tiles, each run at the same input size, so every person is
seen up to ``n`` times larger; neighbours overlap by the size of the largest person the tiles are for.
The two passes are merged per person: people small in the full pass are taken from the second, large
ones from the full pass (a large person cut by a tile edge is only whole in the full frame, and the
network trained on COCO finds large people better at 640 than at 1280). SAHI slices
the same way but returns boxes and masks, not keypoints, and would wrap each model in its own predictor;
these few pure functions keep the experts' batching and runtimes.
"""

from __future__ import annotations

import math

import numpy as np

from posekit.core.boxes import box_iou
from posekit.skeleton.records import PoseProposals

DUPLICATE_IOU = 0.5
"""Two persons of the two passes whose boxes overlap this much (IoU) are the same person."""
DUPLICATE_COVER = 0.8
"""... or when this fraction of the smaller box lies inside the larger (a person half-seen in a tile)."""
EDGE_MARGIN = 0.01
"""A tile person whose box comes within this fraction of the tile's side of an inner tile edge is cut by it."""


def tile_windows(height: int, width: int, per_side: int, overlap: int) -> np.ndarray:
    """``(per_side ** 2, 4)`` int xyxy pixel windows of one size covering the frame, neighbours sharing ``overlap`` px.

    Each window is ``(width + (n - 1) * overlap) / n`` by ``(height + (n - 1) * overlap) / n`` pixels (rounded
    up, at most the frame), so all tiles batch together; the first and last touch the frame's edges.
    """
    n = per_side
    tw = min(width, math.ceil((width + (n - 1) * overlap) / n))
    th = min(height, math.ceil((height + (n - 1) * overlap) / n))
    xs = np.round(np.linspace(0, width - tw, n)).astype(int)
    ys = np.round(np.linspace(0, height - th, n)).astype(int)
    return np.array([(x, y, x + tw, y + th) for y in ys for x in xs], dtype=int)


def frame_tiles(
    height: int, width: int, per_side: int, network_side: int, small_below: float
) -> tuple[np.ndarray, float]:
    """The tile windows of a frame and how many network pixels one frame pixel becomes in them.

    Neighbouring tiles share a band as wide as the largest person the tiles are for (``small_below``
    network pixels in the whole-frame pass, whose scale is ``network_side`` over the frame's long side),
    so each such person is whole in some tile.
    """
    full_scale = network_side / max(height, width)
    windows = tile_windows(height, width, per_side, math.ceil(small_below / full_scale))
    x0, y0, x1, y1 = windows[0]
    return windows, network_side / max(x1 - x0, y1 - y0)


def shift_to_frame(tile: PoseProposals, window: np.ndarray) -> PoseProposals:
    """Tile-pixel proposals moved to frame pixels (``window``: the tile's xyxy in the frame)."""
    x0, y0 = float(window[0]), float(window[1])
    offset = np.array([x0, y0], np.float32)
    return PoseProposals(
        tile.keypoints + offset,
        tile.joint_scores,
        tile.boxes + np.array([x0, y0, x0, y0], np.float32),
        tile.scores,
        tile.layout,
    )


def cut_by_inner_edge(boxes: np.ndarray, window: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(P,)`` bool: boxes (frame pixels) touching an edge of ``window`` that is not an edge of the frame."""
    x0, y0, x1, y1 = (float(v) for v in window)
    margin = EDGE_MARGIN * max(x1 - x0, y1 - y0) + 1.0
    cut = np.zeros(len(boxes), bool)
    if x0 > 0:
        cut |= boxes[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= boxes[:, 1] <= y0 + margin
    if x1 < width:
        cut |= boxes[:, 2] >= x1 - margin
    if y1 < height:
        cut |= boxes[:, 3] >= y1 - margin
    return cut


def same_person(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(A, B)`` bool: xyxy boxes that overlap by :data:`DUPLICATE_IOU` IoU or cover the smaller one by
    :data:`DUPLICATE_COVER`."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=-1)
    cover = inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)
    return (box_iou(a, b) >= DUPLICATE_IOU) | (cover >= DUPLICATE_COVER)


def network_size(boxes: np.ndarray, full_scale: float) -> np.ndarray:
    """``(P,)`` the long side of each ``(P, 4)`` xyxy frame-pixel box in network pixels of the full pass
    (``full_scale``: network pixels per frame pixel): the size that says whether a person is small."""
    return (boxes[:, 2:] - boxes[:, :2]).max(axis=1) * full_scale


def needs_input_size_pass(zoomed: PoseProposals, full_scale: float, small_below: float) -> bool:
    """Whether a frame needs the full pass at the input size after the zoom pass found ``zoomed`` on it.

    :func:`merge_passes` takes a person from the full pass only when it is at least ``small_below`` network
    pixels there, so a frame where the zoom pass found only smaller people keeps the zoom pass's persons as
    they are. A frame where it found nobody gets the full pass too: someone filling the frame may be too large
    for the zoom pass's input to find.
    """
    return len(zoomed.scores) == 0 or bool((network_size(zoomed.boxes, full_scale) >= small_below).any())


def merge_passes(
    full: PoseProposals, tiles: PoseProposals, tile_index: np.ndarray, full_scale: float, small_below: float
) -> PoseProposals:
    """One proposal per person from the full-frame pass and the second pass (frame pixels; tiles uncut).

    ``tile_index`` ``(P_tiles,)`` names the tile each tile person comes from (0 for all of a zoom pass's: one
    image): two persons of one pass on one image are never merged here (the expert's own suppression already
    kept both: people overlap in crowds).

    A person whose box is shorter (long side) than ``small_below`` network pixels in the full pass
    (``full_scale``: network pixels per frame pixel) is better seen in the second pass, a larger one in the full
    frame. Persons are taken greedily in that preference, then by score; a person that is the same as one
    taken (:func:`same_person`) is dropped. The kept full-pass persons come first, then the kept tile persons,
    each in its pass's order.
    """
    if len(tiles.scores) == 0:
        return full
    boxes = np.concatenate([full.boxes, tiles.boxes])
    scores = np.concatenate([full.scores, tiles.scores])
    from_tiles = np.arange(len(boxes)) >= len(full.scores)
    preferred = from_tiles == (network_size(boxes, full_scale) < small_below)
    order = np.lexsort((-scores, ~preferred))
    image = np.concatenate([np.full(len(full.scores), -1), np.asarray(tile_index)])
    duplicate = same_person(boxes, boxes) & (image[:, None] != image[None, :])
    kept = np.zeros(len(boxes), bool)
    for i in order:
        if not (duplicate[i] & kept).any():
            kept[i] = True
    return PoseProposals.concat([full, tiles], full.layout).select(np.flatnonzero(kept))
