"""Where the YOLO experts' network runs: PyTorch, or a dynamic-shape export of the same weights.

An export (OpenVINO IR or ONNX) is made once per weights file and export settings, into a cache
outside the installed packages (``$POSEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/posekit``, else
``~/.cache/posekit``), keyed by the weights' SHA-256 and those settings. Exports keep dynamic input
shapes: a fixed square input would letterbox frames differently from PyTorch and change detections.
Pre- and post-processing (letterbox, NMS, keypoint decoding) stay Ultralytics' own whatever the runtime.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds

Runtime = Literal["torch", "openvino", "onnx"]
CACHE_ENV = "POSEKIT_CACHE_DIR"
EXPORT_TRACE_SIZE = 640
"""Input side (pixels) the export is traced at; the exported input stays dynamic (any height and width)."""
RUNTIME_PACKAGES: dict[Runtime, tuple[str, str]] = {
    "torch": ("torch", "pip install torch"),
    "openvino": ("openvino", "pip install 'posekit[openvino]'"),
    "onnx": ("onnxruntime", "pip install onnxruntime"),
}
"""Each runtime's import name and the one command that installs it."""
EXPORT_FORMATS: dict[Runtime, str] = {"openvino": "openvino", "onnx": "onnx"}
EXPORT_ARGS: dict[Runtime, dict[str, Any]] = {"openvino": {}, "onnx": {"simplify": False}}
"""Per-format export settings beyond dynamic fp32 (ONNX: no graph simplifier, which is not installed offline)."""


@dataclass(frozen=True)
class RuntimeOptions:
    """How the experts use this machine: the YOLO runtime and the CPU threads."""

    runtime: Runtime = field(
        default="torch",
        metadata={
            "help": "Where the YOLO experts run: torch, or openvino (pip install 'posekit[openvino]') or onnx, "
            "exported once to a cache with dynamic shapes; exports move joints by up to ~1e-4 px, and top-down "
            "experts' crops with them."
        },
    )
    threads: int | None = field(
        default=None,
        metadata={
            "help": "Models that run at once, each on one CPU thread: this many copies of the person detector "
            "detect consecutive batches while each other expert poses the tracked ones on a thread of its own. "
            "Default: 2 where the machine has two cores or more. Any value gives the same skeletons, byte for "
            "byte; 1 runs everything one batch after the other (on two cores: ~200 MiB less peak memory and ~7 % less "
            "CPU than 2, for 1.6x the wall time; README, Performance).",
            "min": 1,
            "resume": False,
        },
    )

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_PACKAGES:
            raise ConfigError(f"unknown --runtime {self.runtime!r}; use {', '.join(RUNTIME_PACKAGES)}")
        check_bounds(self)

    @property
    def cpu_threads(self) -> int:
        """Models run at once: ``threads``, or two where this machine has two cores or more."""
        return self.threads or min(2, os.cpu_count() or 1)


def one_torch_thread() -> None:
    """Run PyTorch's operations of the calling thread on that thread alone (a worker's initializer).

    OpenMP keeps a thread count per thread, so each pipeline thread sets its own; exports' sessions
    carry theirs (:func:`set_threads`). Does nothing where PyTorch is not loaded.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


PIPELINE_MMAP_THRESHOLD = 16 << 20
"""Allocations of at least this many bytes get pages of their own while the pipeline runs (see
:func:`fix_mmap_threshold`)."""
_M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` (``<malloc.h>``)."""
_M_TRIM_THRESHOLD = -1
"""glibc's ``mallopt`` parameter number of ``M_TRIM_THRESHOLD`` (``<malloc.h>``)."""
_M_TOP_PAD = -2
"""glibc's ``mallopt`` parameter number of ``M_TOP_PAD`` (``<malloc.h>``)."""
FRAME_MMAP_THRESHOLD = 32 << 20
"""With one frame per batch, allocations below this many bytes come from the arenas (glibc's largest dynamic
threshold on 64-bit systems; see :func:`keep_freed_heap`)."""
FRAME_TRIM_THRESHOLD = 1 << 30
"""With one frame per batch, an arena keeps up to this many freed bytes at its top while a clip runs."""
FRAME_TOP_PAD = 64 << 20
"""With one frame per batch, an arena keeps a freed heap of its own (64 MB, glibc's heap size) instead of
unmapping it (see :func:`keep_freed_heap`)."""


def fix_mmap_threshold(threshold: int = PIPELINE_MMAP_THRESHOLD) -> bool:
    """Give every allocation of ``threshold`` bytes or more its own pages (glibc's ``M_MMAP_THRESHOLD``),
    returned to the system when it is freed; True when glibc took the setting.

    Why: with several models at once each worker thread allocates from a glibc arena of its own, and glibc
    raises its mmap threshold up to 32 MB as large blocks are freed, so the network's 16-32 MB tensors (a
    batch of 8 frames at 640 px: the 29 MB input, the 20 MB feature maps) are carved out of the workers'
    64 MB arena heaps. Those arenas then hold 150-240 MB each of freed memory, and the process's peak RSS is
    wherever the two workers' transient peaks happen to meet: it rose with video length and from run to run
    (``posekit extract --threads 2`` on a 768x576 video, YOLO at 640 with the tile pass: 1832, 2173 and
    2011 MB at 40, 160 and 400 frames, where the heap in use stayed at 250-430 MB), while one batch after
    the other stays flat. A fixed 16 MB threshold keeps those tensors out of the arenas: 1747, 1801 and
    1830 MB at 40, 160 and 400 frames, 5-12 % slower in wall time on a shared 2-core machine (the pages are
    faulted in again per tensor); 8 MB (1776 MB at 400) and 4 MB (1665 MB) were slower still (~40 %), as is
    a fixed 512 KB.

    Does nothing (False) where the C library is not glibc, or where ``MALLOC_MMAP_THRESHOLD_`` is set
    (the user's own setting stands). The setting is the process's, and a fixed threshold stays fixed.
    """
    return _set_allocator({"MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, threshold)})


def keep_freed_heap() -> bool:
    """Keep the memory a frame's tensors freed for the next frame, until :func:`release_free_heap` hands it back
    after the clip: allocations below :data:`FRAME_MMAP_THRESHOLD` come from glibc's arenas, which are neither
    trimmed below :data:`FRAME_TRIM_THRESHOLD` nor give back a heap they emptied (:data:`FRAME_TOP_PAD`); True
    when glibc took the settings.

    Why: a worker thread's arena grows in 64 MB heaps, and one frame at 1280 px (the zoom pass: 10-15 MB
    tensors) needs more than one. Left to glibc, the heap a frame emptied was unmapped, or the arena trimmed,
    and the next frame faulted the pages in again: over 200 street frames 1.9-3.8 million page faults and
    3.9-6.4 s of system time in most runs, where the three settings gave 0.22 million and 0.8-0.9 s in each of
    three, for 25-50 MiB more peak RSS (1333-1357 against 1275-1310 MiB). The thresholds alone left one run in
    three faulting (1.5 million): only the pad keeps the emptied heap.

    Does nothing (False) where the C library is not glibc, or where ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_`` is set (the user's own setting stands). The settings are the
    process's.
    """
    return _set_allocator(
        {
            "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD),
            "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, FRAME_TRIM_THRESHOLD),
            "MALLOC_TOP_PAD_": (_M_TOP_PAD, FRAME_TOP_PAD),
        }
    )


def _set_allocator(settings: dict[str, tuple[int, int]]) -> bool:
    """Set glibc's allocator parameters ``{environment variable: (mallopt number, value)}``; True when glibc took
    every one. Sets none (False) where the C library is not glibc or the user set any of those variables."""
    libc = _glibc()
    if libc is None or any(os.environ.get(name) is not None for name in settings):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all([bool(mallopt(number, value)) for number, value in settings.values()])


def release_free_heap() -> bool:
    """Give the pages of every glibc arena's freed memory back to the system (``malloc_trim(0)``); True when
    glibc released some.

    Why: with one frame per batch the network's tensors come from the worker threads' arenas, which keep their
    pages once the tensors are freed (60-80 MiB after a clip of 768x576 frames at 640 px on two workers). Run after
    a clip, the process's peak RSS stays that of inference: otherwise the libraries' own shutdown (PyTorch's
    destructors page in ~110 MiB of its library) lands on top of those pages, and ``posekit extract`` over 200 street
    frames peaked at ~1220 MiB instead of ~1145. It takes a few milliseconds (6 ms for ~65 MiB handed back).
    Does nothing (False) where the C library is not glibc.
    """
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (whose allocator settings :func:`fix_mmap_threshold`,
    :func:`keep_freed_heap` and :func:`release_free_heap` use), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it; musl's mallopt and malloc_trim do nothing
    except (OSError, AttributeError):
        return None
    return libc


def runtime_installed(runtime: Runtime) -> bool:
    """Whether the package that ``runtime`` needs can be imported here."""
    return importlib.util.find_spec(RUNTIME_PACKAGES[runtime][0]) is not None


def require_runtime(runtime: Runtime) -> Runtime:
    """``runtime``, or one line naming the package to install when it is missing."""
    if not runtime_installed(runtime):
        package, install = RUNTIME_PACKAGES[runtime]
        raise ConfigError(f"--runtime {runtime} needs the {package!r} package: {install} (or use --runtime torch)")
    return runtime


def cache_root() -> Path:
    """Folder of the exports: ``$POSEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/posekit``, else ``~/.cache/posekit``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "posekit"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_key(weights: Path, runtime: Runtime) -> str:
    """The cache entry name of ``weights`` exported for ``runtime``: weights hash, format, settings, exporter."""
    import ultralytics

    extra = "".join(f"-{k}{v}" for k, v in sorted(EXPORT_ARGS[runtime].items()))
    settings = (
        f"{EXPORT_FORMATS[runtime]}-dynamic-fp32-trace{EXPORT_TRACE_SIZE}{extra}-ultralytics{ultralytics.__version__}"
    )
    return f"{weights.stem}-{file_sha256(weights)[:16]}-{settings}"


def exported_model_path(weights: Path, runtime: Runtime) -> Path:
    """The export of ``weights`` for ``runtime`` in the cache, made on first use (dynamic shapes, fp32).

    The export is written in a temporary folder beside its entry and moved in whole, so a run that stops
    mid-export or two runs exporting at once never leave a half-written model.
    """
    entry = cache_root() / "exports" / export_key(weights, runtime)
    if entry.is_dir():
        return _model_in(entry, runtime)
    entry.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=entry.parent, prefix=".export-") as tmp:
        source = Path(tmp) / weights.name
        shutil.copyfile(weights, source)
        from ultralytics import YOLO

        try:
            made = YOLO(str(source)).export(
                format=EXPORT_FORMATS[runtime],
                dynamic=True,
                half=False,
                imgsz=EXPORT_TRACE_SIZE,
                **EXPORT_ARGS[runtime],
                device="cpu",
                verbose=False,
            )
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"--runtime {runtime}: cannot export {weights}: {reason}; use --runtime torch") from exc
        staged = Path(tmp) / "model"
        staged.mkdir()
        made = Path(made)
        shutil.move(str(made), staged / made.name)
        try:
            os.replace(staged, entry)
        except OSError:
            if not entry.is_dir():
                raise
    return _model_in(entry, runtime)


def _model_in(entry: Path, runtime: Runtime) -> Path:
    """The model an export entry holds (an ``*_openvino_model`` folder, or an ``.onnx`` file)."""
    found = sorted(entry.glob("*_openvino_model" if runtime == "openvino" else "*.onnx"))
    if not found:
        raise ConfigError(f"export cache entry {entry} holds no {runtime} model; delete it to export again")
    return found[0]


class YoloRunner:
    """One Ultralytics YOLO-pose model run on ``runtime``, with posekit's thread count.

    ``model`` is the PyTorch model (its names, stride and calibrated settings are read from it); predictions
    come from the export when the runtime is not torch, else from ``model`` through a predictor of this runner's
    own (:func:`own_predictor`), so runners sharing one loaded model can predict at once. Ultralytics sets
    PyTorch's thread count whenever a predictor starts, so it is started on a blank image (:meth:`start`, by the
    first call if not before) and then the threads are set (None: leave Ultralytics' count).
    """

    def __init__(self, model, weights: Path, runtime: Runtime = "torch", threads: int | None = None) -> None:
        self.model = model
        self.runtime = runtime
        self.threads = threads
        if runtime == "torch":
            self.predictor_model = own_predictor(model)
        else:
            from ultralytics import YOLO

            self.predictor_model = YOLO(str(exported_model_path(weights, runtime)), task=model.task)
        self.started = False

    def start(self, **kwargs: Any) -> None:
        """Start the predictor (once) with ``predict``'s settings ``kwargs``: Ultralytics builds it, fuses its copy
        of the network and imports its NMS (torchvision) on a blank image, then the runner sets the threads."""
        if self.started:
            return
        self.predictor_model.predict([np.zeros((64, 64, 3), np.uint8)], **{**kwargs, "verbose": False})
        if self.threads is not None:
            set_threads(self.predictor_model, self.runtime, self.threads)
        self.started = True

    def predict(self, images: Sequence[np.ndarray], **kwargs: Any) -> list:
        """Ultralytics results for ``(H, W, 3)`` uint8 RGB images (``kwargs``: ``predict``'s settings).

        Ultralytics reads arrays as OpenCV's BGR: each image is handed over as its BGR copy, made by OpenCV
        (``cvtColor`` swaps the channels ~30x faster than NumPy's reversed-axis copy, to the same bytes).
        """
        self.start(**kwargs)
        return self.predictor_model.predict([cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for image in images], **kwargs)


def own_predictor(model):
    """The Ultralytics ``YOLO`` ``model`` with no predictor yet: its loaded network and checkpoint are shared, the
    predictor it starts on its first call is its own (Ultralytics keeps one per ``YOLO`` object, and each predictor
    holds a copy of the network, fused for inference, and the state of the batch it is predicting)."""
    twin = copy.copy(model)
    twin.predictor = None
    return twin


def set_threads(model, runtime: Runtime, threads: int) -> None:
    """Run a started Ultralytics predictor's network on ``threads`` CPU threads.

    PyTorch's count is the process's (every torch expert shares it); an OpenVINO model is compiled again
    with that many threads and in float32 (on CPUs with bfloat16 units OpenVINO would otherwise compute in
    bfloat16, moving joints by pixels), and an ONNX Runtime session is opened again with that many threads.
    """
    if runtime == "torch":
        import torch

        torch.set_num_threads(threads)
        return
    backend = model.predictor.model.backend
    if runtime == "openvino":
        import openvino as ov

        xml = next(Path(model.ckpt_path or model.model_name).glob("*.xml"))
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        backend.ov_compiled_model = core.compile_model(core.read_model(str(xml)), "CPU", config)
    else:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        backend.session = onnxruntime.InferenceSession(
            str(model.ckpt_path or model.model_name), options, providers=["CPUExecutionProvider"]
        )
