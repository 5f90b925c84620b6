"""MMPose-family experts run through ONNX Runtime: RTMPose, DWPose (top-down) and RTMO (one-stage).

The models are the ONNX files MMPose ships for deployment (its deploy model zoo, also the
files rtmlib downloads); posekit never downloads them, the user names a local path
(``--experts rtmpose:path/end2end.onnx``). Input sizes are read from each model.

- ``rtmpose`` / ``dwpose``: input ``(N, 3, H, W)`` float32, RGB, normalised with MMPose's
  ImageNet mean/std; outputs ``simcc_x (N, K, W*r)`` and ``simcc_y (N, K, H*r)`` (SimCC
  classification over sub-pixel bins, ``r`` the split ratio). Whole-body (133) and Halpe
  (26) models start with the COCO-17 body joints, which are the ones kept.
- ``rtmo``: input ``(1, 3, H, W)`` float32, BGR, 0..255, the frame letterboxed into the top-left
  corner on grey (114); outputs ``dets (1, N, 5)`` boxes + score and ``keypoints (1, N, K, 3)``
  x, y, score in input pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.estimators.base import CropPoses, EstimatorConfig, OneStageExpert, TopDownExpert, require_file
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

log = logging.getLogger(__name__)

RTMPOSE_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
RTMPOSE_STD = np.array([58.395, 57.12, 57.375], np.float32)
LETTERBOX_FILL = 114
MAX_BATCH = 64
COCO_PREFIXED_JOINT_COUNTS = {17: "COCO-17", 26: "Halpe-26", 133: "COCO-WholeBody-133"}
WHERE_TO_GET = {
    "rtmpose": "download an RTMPose ONNX export (the 'onnx' links of MMPose's projects/rtmpose model zoo, "
    "e.g. rtmpose-m body7 256x192; unzip and use end2end.onnx)",
    "dwpose": "download dw-ll_ucoco_384.onnx (DWPose, huggingface.co/yzd-v/DWPose) or an RTMW/RTMPose "
    "whole-body ONNX export from MMPose's projects/rtmpose model zoo",
    "rtmo": "download an RTMO ONNX export (the 'onnx' links of MMPose's projects/rtmo model zoo, "
    "e.g. rtmo-s body7 640x640; unzip and use end2end.onnx)",
}


def execution_providers(device: DeviceOptions) -> list:
    """ONNX Runtime providers on ``device``: on a GPU, CUDA first and the CPU as fallback for unsupported ops.

    ``auto`` runs on the CPU when this onnxruntime has no CUDA provider; a GPU named explicitly needs one.
    """
    where = device.resolve()
    if where == "cpu":
        return ["CPUExecutionProvider"]
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        if device.device == "auto":
            log.info("onnxruntime has no CUDA provider: the ONNX experts run on the CPU")
            return ["CPUExecutionProvider"]
        raise ConfigError(
            f"--device {where}: this onnxruntime has no CUDA provider; "
            "pip install onnxruntime-gpu (instead of onnxruntime) or use --device cpu"
        )
    _, _, index = where.partition(":")
    return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]


def open_session(weights: Path | None, expert: str, device: DeviceOptions):
    """An ``onnxruntime.InferenceSession`` on the local file ``weights``; ConfigError naming the fix."""
    if weights is None:
        raise ConfigError(
            f"expert {expert!r} needs a local ONNX file: --experts {expert}:path/to/model.onnx; {WHERE_TO_GET[expert]}"
        )
    require_file(weights, f"{expert} ONNX model", WHERE_TO_GET[expert])
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(weights), options, providers=execution_providers(device))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{expert}: {weights} is not a usable ONNX model ({exc}); {WHERE_TO_GET[expert]}") from exc


def _fixed_dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def input_geometry(session, expert: str) -> tuple[int | None, int, int]:
    """``(batch or None if dynamic, height, width)`` of the model's single NCHW image input."""
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or shape[1] != 3:
        raise ConfigError(f"{expert}: expected one (N, 3, H, W) image input, the model has {shape}")
    height, width = _fixed_dim(shape[2]), _fixed_dim(shape[3])
    if height is None or width is None:
        raise ConfigError(f"{expert}: the model's input size is not fixed ({shape}); export it with a fixed H x W")
    return _fixed_dim(shape[0]), height, width


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """SimCC logits ``(N, K, W*r)``, ``(N, K, H*r)`` -> crop pixels ``(N, K, 2)`` and scores ``(N, K)``.

    Each axis is the argmax bin divided by its split ratio (bins per input pixel); the score
    is the smaller of the two peak values, and joints whose peak is not positive are NaN.
    """
    ratio_x, ratio_y = simcc_x.shape[-1] / width, simcc_y.shape[-1] / height
    x = np.argmax(simcc_x, axis=-1).astype(np.float32) / ratio_x
    y = np.argmax(simcc_y, axis=-1).astype(np.float32) / ratio_y
    scores = np.minimum(simcc_x.max(axis=-1), simcc_y.max(axis=-1)).astype(np.float32)
    points = np.stack([x, y], axis=-1)
    points[scores <= 0] = np.nan
    return points, scores


class OnnxExpert:
    """What every ONNX expert shares: the session, its fixed input size and two named outputs.

    Mixed in before :class:`TopDownExpert` or :class:`OneStageExpert`, whose ``__init__`` it calls.
    """

    expert: ClassVar[str]
    outputs: ClassVar[tuple[str, str]]
    layout = COCO17

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.name = self.expert
        self.session = open_session(weights, self.expert, config)
        self.batch_size, self.height, self.width = input_geometry(self.session, self.expert)
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        if len(names) != 2:
            raise ConfigError(
                f"{self.expert}: expected the outputs {' and '.join(self.outputs)}, the model has {names}"
            )
        self.output_names = list(self.outputs) if set(names) == set(self.outputs) else names

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels of the image the model takes."""
        return self.width, self.height


class RTMPose(OnnxExpert, TopDownExpert):
    """Top-down SimCC pose model (RTMPose, RTMW, DWPose): one person per given box, COCO-17.

    Crops are the box enlarged by ``config.crop_scale`` (1.25 as MMPose) at the model's own input
    size and aspect, and run in one session call when the batch dim is dynamic (in chunks of
    ``MAX_BATCH``), else in chunks of the fixed batch.
    """

    expert: ClassVar[str] = "rtmpose"
    outputs: ClassVar[tuple[str, str]] = ("simcc_x", "simcc_y")
    joint_counts: ClassVar[tuple[int, ...]] = (17, 26, 133)

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(weights, config)
        joints = self.session.get_outputs()[0].shape[1]
        if isinstance(joints, int) and joints not in self.joint_counts:
            known = ", ".join(f"{k} ({COCO_PREFIXED_JOINT_COUNTS[k]})" for k in self.joint_counts)
            raise ConfigError(f"{self.expert}: the model has {joints} joints; this expert reads models with {known}")

    def crop_shape(self) -> tuple[int, int]:
        return self.width, self.height

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SimCC logits for ``(N, 3, H, W)`` normalised crops, batched as the model allows."""
        step = self.batch_size or MAX_BATCH
        xs, ys = [], []
        for i in range(0, len(crops), step):
            chunk = crops[i : i + step]
            n = len(chunk)
            if self.batch_size is not None and n < step:
                chunk = np.concatenate([chunk, np.zeros((step - n, *chunk.shape[1:]), np.float32)])
            sx, sy = self.session.run(self.output_names, {self.input_name: chunk})
            xs.append(sx[:n])
            ys.append(sy[:n])
        return np.concatenate(xs), np.concatenate(ys)

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        """RGB crops normalised with MMPose's ImageNet mean and std, SimCC decoded; the first 17 joints kept."""
        batch = np.empty((len(crops), 3, self.height, self.width), np.float32)
        for c in range(3):
            np.multiply(crops[..., c], 1.0 / RTMPOSE_STD[c], out=batch[:, c], dtype=np.float32, casting="unsafe")
            batch[:, c] -= RTMPOSE_MEAN[c] / RTMPOSE_STD[c]
        simcc_x, simcc_y = self.run(batch)
        points, joint_scores = decode_simcc(simcc_x[:, :17], simcc_y[:, :17], self.width, self.height)
        joint_scores = np.clip(joint_scores, 0.0, 1.0)
        return CropPoses(points, joint_scores, joint_scores.mean(axis=1).astype(np.float32))


class DWPose(RTMPose):
    """DWPose (a distilled RTMPose-l whole-body model, 133 joints); the 17 COCO body joints are kept."""

    expert: ClassVar[str] = "dwpose"
    joint_counts: ClassVar[tuple[int, ...]] = (133,)


def letterbox(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """``(height, width, 3)`` image holding ``frame`` resized by ``ratio`` into its top-left corner, and ``ratio``."""
    h, w = frame.shape[:2]
    ratio = min(height / h, width / w)
    nh, nw = round(h * ratio), round(w * ratio)
    out = np.full((height, width, 3), LETTERBOX_FILL, np.uint8)
    out[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, ratio


class RTMO(OnnxExpert, OneStageExpert):
    """One-stage multi-person RTMO: the whole frame in, people with COCO-17 keypoints out.

    The model's export already applies its own NMS; the base drops persons below
    ``config.min_box_score``. Frames run one per session call (RTMO exports take batch 1).
    """

    expert: ClassVar[str] = "rtmo"
    outputs: ClassVar[tuple[str, str]] = ("dets", "keypoints")
    reads_imgsz: ClassVar[bool] = False

    def network_side(self) -> int:
        """The long side of the model's fixed input (``--imgsz`` does not apply to it)."""
        return max(self.width, self.height)

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """``(3, H, W)`` float32 BGR 0..255 letterboxed image of an RGB frame, and the resize ratio."""
        image, ratio = letterbox(frame, self.width, self.height)
        return image[..., ::-1].transpose(2, 0, 1).astype(np.float32), ratio

    def postprocess(self, dets: np.ndarray, keypoints: np.ndarray, ratio: float) -> PoseProposals:
        """``dets (N, 5)`` and ``keypoints (N, K, 3)`` in model pixels -> frame-pixel proposals (COCO-17)."""
        keypoints = keypoints[:, :17]
        return PoseProposals(
            (keypoints[..., :2] / ratio).astype(np.float32),
            np.clip(keypoints[..., 2], 0.0, 1.0).astype(np.float32),
            (dets[:, :4] / ratio).astype(np.float32),
            dets[:, 4].astype(np.float32),
            COCO17,
        )

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        inputs = [self.preprocess(frame) for frame in frames]
        out = []
        step = self.batch_size or 1
        for i in range(0, len(inputs), step):
            chunk = inputs[i : i + step]
            batch = np.stack([image for image, _ in chunk])
            if len(chunk) < step:
                batch = np.concatenate([batch, np.zeros((step - len(chunk), *batch.shape[1:]), np.float32)])
            dets, keypoints = self.session.run(self.output_names, {self.input_name: batch})
            for j, (_, ratio) in enumerate(chunk):
                out.append(self.postprocess(dets[j], keypoints[j], ratio))
        return out
