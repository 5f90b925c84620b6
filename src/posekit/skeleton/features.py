"""Input streams of UNIK (thesis 3.4.1, joint-bone two-stream fusion) and their late fusion.

Every function takes a ``(C, T, V, M)`` array (``C`` coordinates, ``T`` frames, ``V`` joints,
``M`` persons; NaN = missing joint) in the units of its input (the dataset passes screen
coordinates normalised to ``[-1, 1]``) and returns the same shape. A value made from a
missing joint is NaN, so the reader can zero it after the stream is computed.

- ``joint``: the coordinates themselves.
- ``bone``: ``x[child] - x[parent]`` for each ``(child, parent)`` edge of the layout, a vector
  pointing away from the body centre; the centre joint, which has no parent, gets 0.
- ``joint_motion`` / ``bone_motion``: ``s[t + 1] - s[t]`` of the joint / bone stream, 0 at the
  last frame.
"""

from __future__ import annotations

import numpy as np

from posekit.skeleton.layouts import POSETICS17, JointLayout

STREAMS = ("joint", "bone", "joint_motion", "bone_motion")


def bone_parents(layout: JointLayout = POSETICS17) -> np.ndarray:
    """``(V,)`` int: the parent of each joint in the layout's tree, -1 for the centre.

    Raises ``ValueError`` if the edges are not a tree of (child, parent) pairs rooted at
    ``layout.center``.
    """
    parents = np.full(layout.num_joints, -1, dtype=np.int64)
    for child, parent in layout.edges:
        if parents[child] != -1:
            raise ValueError(f"layout {layout.name!r}: joint {layout.joints[child]!r} has two parents")
        parents[child] = parent
    roots = [v for v in range(layout.num_joints) if parents[v] == -1]
    if roots != [layout.center]:
        raise ValueError(
            f"layout {layout.name!r}: bones need a tree rooted at the centre joint "
            f"{layout.joints[layout.center]!r}; joints without parent: {[layout.joints[v] for v in roots]}"
        )
    return parents


def bones(x: np.ndarray, layout: JointLayout = POSETICS17) -> np.ndarray:
    """``(C, T, V, M)`` joints -> ``(C, T, V, M)`` bone vectors (0 at the centre joint)."""
    parents = bone_parents(layout)
    out = np.zeros_like(x)
    child = np.flatnonzero(parents >= 0)
    out[:, :, child] = x[:, :, child] - x[:, :, parents[child]]
    return out


def motion(x: np.ndarray) -> np.ndarray:
    """``(C, T, V, M)`` -> frame differences ``x[t + 1] - x[t]``, 0 at the last frame."""
    out = np.zeros_like(x)
    out[:, :-1] = x[:, 1:] - x[:, :-1]
    return out


def make_stream(x: np.ndarray, stream: str, layout: JointLayout = POSETICS17) -> np.ndarray:
    """The named stream of ``(C, T, V, M)`` joints; see the module docstring."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bones(x, layout)
    if stream == "joint_motion":
        return motion(x)
    if stream == "bone_motion":
        return motion(bones(x, layout))
    raise ValueError(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fuse_scores(scores: list[np.ndarray], weights: list[float] | None = None) -> np.ndarray:
    """Late fusion (thesis 3.4.1): the weighted sum of each stream's ``(N, K)`` softmax scores."""
    if not scores:
        raise ValueError("fuse_scores needs at least one score array")
    shapes = {s.shape for s in scores}
    if len(shapes) != 1:
        raise ValueError(f"score arrays differ in shape: {sorted(shapes)}")
    weights = weights or [1.0] * len(scores)
    return sum(w * s for w, s in zip(weights, scores))
