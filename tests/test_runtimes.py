"""YOLO runtimes (exports cached by weights hash), the pipeline of several workers and bounded top-down crop batches."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.estimators.base import CropPoses, EstimatorConfig, TopDownExpert
from posekit.estimators.registry import build_estimator, parse_experts
from posekit.estimators.runtimes import (
    CACHE_ENV,
    RuntimeOptions,
    YoloRunner,
    cache_root,
    export_key,
    one_torch_thread,
    own_predictor,
    runtime_installed,
)
from posekit.estimators.yolo import bundled_yolo_weights, shared_yolo
from posekit.skeleton.layouts import COCO17
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import run_extraction
from tests.conftest import REPO


def test_cache_root_is_the_env_var_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "posekit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "posekit"


def test_export_key_follows_the_weights_bytes_and_the_format(tmp_path: Path) -> None:
    weights = tmp_path / "a.pt"
    shutil.copyfile(bundled_yolo_weights(), weights)
    before = export_key(weights, "openvino")
    assert export_key(weights, "onnx") != before
    assert "dynamic" in before
    with open(weights, "ab") as f:
        f.write(b"\0")
    assert export_key(weights, "openvino") != before


def test_unknown_runtime_and_zero_threads_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="unknown --runtime 'tensorrt'"):
        RuntimeOptions(runtime="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--threads"):
        RuntimeOptions(threads=0)


class BoxCentres(TopDownExpert):
    """A top-down expert whose every joint is its crop's box centre: the crop loop's mapping made visible."""

    name = "box-centres"
    layout = COCO17

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.calls: list[int] = []

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        self.calls.append(len(crops))
        N, V = len(crops), self.layout.num_joints
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], -1)
        return CropPoses(
            np.repeat(centres[:, None], V, 1).astype(np.float32),
            np.ones((N, V), np.float32),
            np.ones(N, np.float32),
        )


def test_top_down_crops_go_in_batches_of_crop_batch_and_map_back(sample_frames: list[np.ndarray]) -> None:
    frames = sample_frames[:3]
    rng = np.random.default_rng(0)
    boxes = []
    for count in (17, 0, 23):
        x1, y1 = rng.uniform(0, 500, count), rng.uniform(0, 300, count)
        boxes.append(np.stack([x1, y1, x1 + rng.uniform(20, 80, count), y1 + rng.uniform(60, 200, count)], -1))
    bounded = BoxCentres(EstimatorConfig(crop_batch=16))
    out = bounded.predict(frames, boxes)
    assert bounded.calls == [16, 16, 8]
    for props, frame_boxes in zip(out, boxes):
        assert len(props) == len(frame_boxes)
        centres = np.stack([frame_boxes[:, 0] + frame_boxes[:, 2], frame_boxes[:, 1] + frame_boxes[:, 3]], -1) / 2
        np.testing.assert_allclose(props.keypoints[:, 0], centres, atol=1e-3)
    whole = BoxCentres(EstimatorConfig(crop_batch=1000))
    for a, b in zip(out, whole.predict(frames, boxes)):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert whole.calls == [40]


MALLINFO = """
import ctypes, os, sys
import numpy as np

class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2, returned by value
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                              "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
"""
"""glibc's heap figures (``mallinfo2().hblkhd``: bytes in blocks mapped on their own), for the checks below."""

MMAP_CHECK = (
    MALLINFO
    + """
from posekit.estimators.runtimes import PIPELINE_MMAP_THRESHOLD, fix_mmap_threshold

os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
assert not fix_mmap_threshold(), "a user's MALLOC_MMAP_THRESHOLD_ must stand"
del os.environ["MALLOC_MMAP_THRESHOLD_"]
assert fix_mmap_threshold()
large = np.ones(PIPELINE_MMAP_THRESHOLD * 3 // 2, np.uint8)  # unfixed, freeing it raises the threshold to 24 MB
del large
before = mallinfo2().hblkhd
block = np.empty(PIPELINE_MMAP_THRESHOLD, np.uint8)
assert mallinfo2().hblkhd - before >= PIPELINE_MMAP_THRESHOLD, "the block was carved from an arena"
del block
assert mallinfo2().hblkhd == before, "the block was not given back"
"""
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc >= 2.33"
)
def test_the_pipeline_gives_large_tensors_pages_of_their_own() -> None:
    """After :func:`fix_mmap_threshold`, a block of the threshold's size is mapped on its own (freed to the system),
    not carved from an arena; a ``MALLOC_MMAP_THRESHOLD_`` of the user's is left to stand.

    In a fresh process: in this one, earlier tests leave free arena chunks that glibc serves first."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", MMAP_CHECK], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


KEEP_CHECK = (
    MALLINFO
    + """
from posekit.estimators.runtimes import FRAME_MMAP_THRESHOLD, keep_freed_heap, release_free_heap

def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

os.environ["MALLOC_TRIM_THRESHOLD_"] = "131072"
assert not keep_freed_heap(), "a user's MALLOC_TRIM_THRESHOLD_ must stand"
del os.environ["MALLOC_TRIM_THRESHOLD_"]
assert keep_freed_heap()
before = mallinfo2().hblkhd
tensors = [np.ones(FRAME_MMAP_THRESHOLD // 2, np.uint8) for _ in range(8)]  # a frame's 16 MB tensors
assert mallinfo2().hblkhd == before, "a tensor got pages of its own, to be faulted in again next frame"
held = resident_mib()
del tensors
assert resident_mib() > held - 16, "the arena was trimmed: the next frame faults its pages in again"
assert release_free_heap() and resident_mib() < held - 100, "after the clip the pages go back"
"""
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc >= 2.33"
)
def test_one_frame_batches_keep_a_frames_freed_tensors_for_the_next_until_the_clip_ends() -> None:
    """After :func:`keep_freed_heap`, 16 MB blocks come from the arena and stay resident when freed, until
    :func:`release_free_heap`; a ``MALLOC_TRIM_THRESHOLD_`` of the user's is left to stand. In a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", KEEP_CHECK], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


TRIM_CHECK = """
import threading
from posekit.estimators.runtimes import release_free_heap

def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

def churn():  # 64 KiB blocks (below glibc's mmap threshold) from this thread's arena, all but the last freed
    blocks = [bytearray(b"x" * 65536) for _ in range(3200)]
    del blocks[:-1]
    kept.append(blocks)

kept = []
worker = threading.Thread(target=churn)
worker.start()
worker.join()
before = resident_mib()
assert release_free_heap()
assert before - resident_mib() > 100, (before, resident_mib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_arena_memory_of_a_worker_thread_goes_back_to_the_system() -> None:
    """After a worker thread freed 200 MiB of arena blocks, :func:`release_free_heap` hands their pages back (RSS
    falls by more than 100 MiB); in a fresh process, whose arenas hold nothing else."""
    done = subprocess.run([sys.executable, "-c", TRIM_CHECK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_command_line_loads_no_module_that_only_evaluation_or_imports_need() -> None:
    """Starting ``posekit`` (every command's module) loads neither SciPy's optimiser nor its file readers: a YOLO
    extraction never needs them, and they cost ~50 MiB of resident memory and ~0.3 s of CPU per process."""
    code = (
        "import sys, posekit.cli.app; print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pandas')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_detectors_of_one_weights_file_share_the_loaded_model_and_predict_at_once_as_alone(
    sample_frames: list[np.ndarray],
) -> None:
    """Two detectors built from one weights file hold one loaded model; predicting at once from two threads (frames
    at 320 and at 640 in the zoom pass: two input sizes) gives each frame exactly the persons one detector gives it
    alone."""
    config = EstimatorConfig(imgsz=320, tiles=2, tile_max_upscale=4.0)
    first, second = build_estimator("yolo", config), build_estimator("yolo", config)
    assert first.model is second.model
    for detector in (first, second):
        detector.use_runtime("torch", 1)
    assert first.runner.predictor_model is not second.runner.predictor_model
    frames = sample_frames[:6]
    with ThreadPoolExecutor(2, initializer=one_torch_thread) as pool:
        together = list(pool.map(lambda k: (first, second)[k % 2].predict([frames[k]])[0], range(len(frames))))
    with ThreadPoolExecutor(1, initializer=one_torch_thread) as pool:
        alone = list(pool.map(lambda frame: first.predict([frame])[0], frames))
    assert sum(len(props.scores) for props in alone) > 0
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.joint_scores, b.joint_scores)


@pytest.mark.slow
def test_the_runner_takes_rgb_frames_and_gives_what_ultralytics_gives_for_their_bgr_copy(
    sample_frames: list[np.ndarray],
) -> None:
    model = shared_yolo(None)
    rgb = sample_frames[0]
    ours = YoloRunner(model, bundled_yolo_weights()).predict([rgb], imgsz=1280, conf=0.1, verbose=False)[0]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    theirs = own_predictor(model).predict([bgr], imgsz=1280, conf=0.1, verbose=False)[0]
    assert len(ours.boxes) > 0
    np.testing.assert_array_equal(ours.boxes.data.numpy(), theirs.boxes.data.numpy())
    np.testing.assert_array_equal(ours.keypoints.data.numpy(), theirs.keypoints.data.numpy())


@pytest.mark.slow
def test_one_and_two_workers_write_byte_identical_shards(short_clip: Path, tmp_path: Path) -> None:
    import torch

    threads_before = torch.get_num_threads()
    shards = {}
    for threads in (1, 2):
        options = ExtractOptions(
            experts=tuple(parse_experts("yolo,yolo-topdown")),
            estimator=EstimatorConfig(imgsz=1280),
            batch_size=2,
            runtime=RuntimeOptions(runtime="torch", threads=threads),
        )
        out = tmp_path / f"threads-{threads}"
        summary = run_extraction(short_clip, out, options, progress=False)
        assert summary.done == 1 and summary.poses > 0
        shards[threads] = (out / "skeletons-00000.parquet").read_bytes()
    torch.set_num_threads(threads_before)
    assert shards[1] == shards[2]


OPENVINO_CHECK = """
import sys
from pathlib import Path
import numpy as np
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.runtimes import exported_model_path
from posekit.estimators.yolo import YoloPose, bundled_yolo_weights
from tests.videos import read_frames

cache = Path(sys.argv[2])
config = EstimatorConfig(imgsz=1280)
torch_expert, ov_expert = YoloPose(None, config), YoloPose(None, config)
ov_expert.use_runtime("openvino", 1)
exported = exported_model_path(bundled_yolo_weights(), "openvino")
assert exported.is_relative_to(cache), exported
assert not any(bundled_yolo_weights().parent.glob("*_openvino_model"))
frames = read_frames(sys.argv[1], 2)
for a, b in zip(torch_expert.predict(frames), ov_expert.predict(frames)):
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-2)
print("equal")
"""


@pytest.mark.slow
@pytest.mark.skipif(not runtime_installed("openvino"), reason="needs the openvino extra (part of the dev extra)")
def test_openvino_export_is_cached_outside_the_package_and_matches_torch(sample_clip: Path, tmp_path: Path) -> None:
    """In a process of its own: OpenVINO's thread pool and torch's OpenMP one do not share a process in the suite."""
    cache = tmp_path / "cache"
    env = {**os.environ, CACHE_ENV: str(cache)}
    run = subprocess.run(
        [sys.executable, "-c", OPENVINO_CHECK, str(sample_clip), str(cache)],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("equal")
