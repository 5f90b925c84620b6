"""Seeded degradations of RGB frames for the degradation protocol (docs/design.md, thesis 3.6.1).

The thesis built NTU-Pose by lowering the resolution of clean videos and adding partial
occlusions; here the same idea is a small set of pure functions on ``(H, W, 3)`` uint8 RGB
frames, each returning a new frame of the same shape, plus a registry of named ones:

- ``downscale-F``: resample to ``F`` times the size (area averaging), then back to the
  original size (bilinear). The frame keeps its size, so every coordinate stays in the
  original pixel frame and nothing has to be mapped back. The information lost is the same
  as feeding the small frame: every expert resizes its input to a fixed network size anyway
  (YOLO letterboxes the frame to ``imgsz``, top-down experts resize each person crop to
  ``crop_size``), so a small frame would be upscaled inside the expert, only with a different
  interpolation.
- ``occlude-F``: one rectangle per person box covering the fraction ``F`` of the box area
  (aspect ratio drawn in [1/2, 2], position uniform inside the box), filled with grey or
  uniform noise (coin flip); without boxes, 8 rectangles covering ``F`` of the frame.
- ``blur-S``: Gaussian blur of standard deviation ``S`` pixels.
- ``jpeg-Q``: JPEG round trip at quality ``Q`` (1-100).
- ``none``: the frame unchanged.

Names compose with ``+`` (``downscale-0.5+occlude-0.3``, the NTU-Pose recipe), applied left
to right. Random choices come from ``numpy.random.default_rng((seed, frame_index, step))``,
so a frame's degradation depends only on the seed, its index and the name, never on the
order frames are processed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from posekit.core.errors import ConfigError

DEFAULT_DEGRADATIONS = ("downscale-0.5", "occlude-0.3", "blur-3", "jpeg-10", "downscale-0.5+occlude-0.3")
"""What ``posekit eval degrade`` runs unless told otherwise (the last one is the NTU-Pose recipe)."""

FRAME_PATCHES = 8
"""Occluding rectangles per frame when no person boxes are given."""

GREY = 128


def _check_frame(frame: np.ndarray) -> np.ndarray:
    x = np.asarray(frame)
    if x.ndim != 3 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB; got {x.dtype} {x.shape}")
    return x


def downscale(frame: np.ndarray, factor: float) -> np.ndarray:
    """``frame`` resampled to ``factor`` (0 < factor <= 1) of its size and back: ``(H, W, 3)`` uint8.

    Area averaging going down (no aliasing), bilinear going up.
    """
    x = _check_frame(frame)
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1]; got {factor}")
    H, W = x.shape[:2]
    small = cv2.resize(x, (max(1, round(W * factor)), max(1, round(H * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)


def gaussian_blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel size chosen by OpenCV)."""
    x = _check_frame(frame)
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0 pixels; got {sigma}")
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode and decode at ``quality`` (1-100; OpenCV's encoder, 4:2:0 chroma)."""
    x = _check_frame(frame)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100; got {quality}")
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(x[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def patch_rects(regions: np.ndarray, fraction: float, rng: np.random.Generator, per_region: int = 1) -> np.ndarray:
    """Random rectangles inside ``regions``: ``(R * per_region, 4)`` int xyxy pixels (x2, y2 exclusive).

    ``regions`` ``(R, 4)`` xyxy pixels; each gets ``per_region`` rectangles of ``fraction / per_region``
    of its area, aspect ratio log-uniform in [1/2, 2] (clipped to the region), placed uniformly.
    """
    out = []
    for x1, y1, x2, y2 in np.asarray(regions, dtype=np.float64).reshape(-1, 4):
        w, h = x2 - x1, y2 - y1
        for _ in range(per_region):
            aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
            area = fraction / per_region * w * h
            pw = min(w, np.sqrt(area * aspect))
            ph = min(h, area / pw) if pw > 0 else 0.0
            px = x1 + rng.uniform(0, max(0.0, w - pw))
            py = y1 + rng.uniform(0, max(0.0, h - ph))
            out.append((round(px), round(py), round(px + pw), round(py + ph)))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def occlude(
    frame: np.ndarray, fraction: float, rng: np.random.Generator, boxes: np.ndarray | None = None
) -> np.ndarray:
    """Occluding rectangles: ``fraction`` of each person box (``(P, 4)`` xyxy pixels), else of the frame.

    Each rectangle is grey (128) or uniform noise, by a fair coin per rectangle.
    """
    x = _check_frame(frame).copy()
    if not 0 < fraction <= 1:
        raise ValueError(f"occlusion fraction must be in (0, 1]; got {fraction}")
    H, W = x.shape[:2]
    if boxes is None:
        rects = patch_rects(np.array([[0, 0, W, H]]), fraction, rng, FRAME_PATCHES)
    else:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        b = b[np.isfinite(b).all(1)]
        b = np.clip(b, 0, [W, H, W, H])
        rects = patch_rects(b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])], fraction, rng)
    for x1, y1, x2, y2 in np.clip(rects, 0, [W, H, W, H]):
        if x2 <= x1 or y2 <= y1:
            continue
        noise = rng.random() < 0.5
        x[y1:y2, x1:x2] = rng.integers(0, 256, (y2 - y1, x2 - x1, 3), dtype=np.uint8) if noise else GREY
    return x


@dataclass(frozen=True)
class Step:
    """One elementary degradation: ``kind`` and its parameter (see the module docstring)."""

    kind: str
    value: float

    def apply(self, frame: np.ndarray, rng: np.random.Generator, boxes: np.ndarray | None) -> np.ndarray:
        if self.kind == "downscale":
            return downscale(frame, self.value)
        if self.kind == "occlude":
            return occlude(frame, self.value, rng, boxes)
        if self.kind == "blur":
            return gaussian_blur(frame, self.value)
        if self.kind == "jpeg":
            return jpeg(frame, int(self.value))
        return _check_frame(frame).copy()


_KINDS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "downscale": ("a size factor in (0, 1], e.g. downscale-0.5", lambda v: 0 < v <= 1),
    "occlude": ("a fraction of each person box in (0, 1], e.g. occlude-0.3", lambda v: 0 < v <= 1),
    "blur": ("a Gaussian sigma in pixels > 0, e.g. blur-3", lambda v: v > 0),
    "jpeg": ("a JPEG quality in 1..100, e.g. jpeg-10", lambda v: 1 <= v <= 100 and v == int(v)),
}


@dataclass(frozen=True)
class Degradation:
    """A named chain of :class:`Step` s, applied left to right; deterministic given the seed."""

    name: str
    steps: tuple[Step, ...]

    @property
    def needs_boxes(self) -> bool:
        """Whether person boxes change the result (occlusion is placed on people)."""
        return any(s.kind == "occlude" for s in self.steps)

    def apply(
        self, frame: np.ndarray, *, seed: int = 0, frame_index: int = 0, boxes: np.ndarray | None = None
    ) -> np.ndarray:
        """The degraded ``(H, W, 3)`` uint8 RGB frame; ``boxes`` ``(P, 4)`` xyxy pixels of its persons."""
        x = _check_frame(frame)
        if not self.steps:
            return x.copy()
        for i, step in enumerate(self.steps):
            x = step.apply(x, np.random.default_rng((seed, frame_index, i)), boxes)
        return x


def parse_step(text: str) -> Step:
    """``"blur-3"`` -> ``Step("blur", 3.0)``; raise :class:`ConfigError` naming the known kinds."""
    kind, _, value = text.strip().partition("-")
    if kind not in _KINDS:
        known = ", ".join(f"{k} ({hint})" for k, (hint, _) in _KINDS.items())
        raise ConfigError(f"unknown degradation {text!r}; known: none, {known}; combine with '+'")
    hint, valid = _KINDS[kind]
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"degradation {text!r} needs {hint}") from None
    if not valid(number):
        raise ConfigError(f"degradation {text!r} needs {hint}")
    return Step(kind, number)


def get_degradation(name: str) -> Degradation:
    """The degradation called ``name`` (``none``, ``jpeg-10``, ``downscale-0.5+occlude-0.3``, ...)."""
    name = name.strip()
    if name in ("none", "clean", ""):
        return Degradation("none", ())
    return Degradation(name, tuple(parse_step(part) for part in name.split("+")))


def parse_degradations(text: str) -> list[Degradation]:
    """Comma-separated names -> degradations, in order; duplicates are an error."""
    items = [get_degradation(part) for part in text.split(",") if part.strip()]
    if not items:
        raise ConfigError("--degradations is empty; name at least one, e.g. downscale-0.5,occlude-0.3")
    names = [d.name for d in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"--degradations names the same degradation twice: {text!r}")
    return items
