"""``--backend ray``: decoding and inference in a pool of Ray Data actors that keep models loaded.

The videos are a Ray Data dataset of paths, one clip per block; ``map_batches`` runs them
through a pool of ``workers`` actors (each loads the experts once, decodes its clip in a
thread and runs the models, SST-A included) and the driver consumes the results as they
come, in input order (``preserve_order``). Only the driver writes shards and the manifest,
so the commit point stays where it is for the single-process backend and the shards are the
same. Ray Data bounds what is in flight (``max_in_flight`` clips per actor, and its
streaming executor holds back when results are not consumed); a clip's result is a few MB at
most (skeletons, not frames).

Failures: a video's own error comes back as a failed result (recorded, not retried). A
worker process that dies (SIGKILL, out of memory, a crash in native code) is restarted by
Ray, which retries its clip up to ``max_retries`` times (Ray's ``max_task_retries``); a clip
still lost after that is dropped by Ray Data (``max_errored_blocks=-1``) and recorded here as
failed with the reason, and the job goes on.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds, flag_name
from posekit.io.video import VideoInput
from posekit.workflows.extraction.clip import ClipOutcome, extract_outcome
from posekit.workflows.extraction.experts import ExpertSet, load_run_experts
from posekit.workflows.extraction.options import ExtractOptions
from posekit.workflows.extraction.run import Backend, LocalBackend

log = logging.getLogger(__name__)

TRACE_ENV = "POSEKIT_RAY_TRACE_DIR"
"""If set on the workers, each writes the clip it is on to ``DIR/worker-PID.txt`` (to find stuck clips)."""


def import_ray() -> Any:
    """Ray, or a one-line ConfigError naming the extra that installs it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("--backend ray needs Ray Data: pip install 'posekit[ray]'") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray (the flags of ``--backend ray``)."""

    address: str | None = field(
        default=None,
        metadata={
            "flag": "--ray-address",
            "help": "Ray cluster to join: auto or HOST:PORT (default: start Ray on this machine, stopped at the end).",
        },
    )
    workers: int = field(default=1, metadata={"help": "Ray actors, each with its own copy of the models.", "min": 1})
    num_gpus_per_worker: float = field(
        default=0.0, metadata={"help": "GPUs per Ray actor (0: CPU only; 0.5: two actors share a GPU).", "min": 0}
    )
    cpus_per_worker: float | None = field(
        default=None,
        metadata={
            "help": "CPUs per Ray actor, which runs this many models at once unless --threads is given "
            "(default: the cluster's CPUs shared by the workers).",
            "min": 0,
            "min_open": True,
        },
    )
    max_retries: int = field(
        default=2, metadata={"help": "Times a clip is retried when its Ray worker process dies.", "min": 0}
    )
    max_in_flight: int = field(
        default=1,
        metadata={
            "help": "Clips sent to one actor at a time; 1 makes a worker's death cost exactly the clip it was on.",
            "min": 1,
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def given(self) -> list[str]:
        """The flags set away from their defaults (they only apply with ``--backend ray``)."""
        return [flag_name(f) for f in fields(self) if getattr(self, f.name) != f.default]


@dataclass(frozen=True)
class BackendOptions:
    """Where extraction runs: this process, or Ray Data actors with :class:`RayOptions`."""

    backend: Literal["local", "ray"] = field(
        default="local",
        metadata={"help": "local (this process) or ray (Ray Data actors; pip install 'posekit[ray]')."},
    )
    ray: RayOptions = field(default_factory=RayOptions)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.backend == "local" and self.ray.given:
            raise ConfigError(f"{', '.join(self.ray.given)} only apply with --backend ray")

    def build(self) -> Backend:
        """The backend these options name (Ray imported only when asked for)."""
        if self.backend == "local":
            return LocalBackend()
        import_ray()
        return RayBackend(self.ray)


class ExtractActor:
    """One Ray Data actor: the experts loaded once, then one clip per call."""

    def __init__(self, options: ExtractOptions, threads: int) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        for noisy in ("ultralytics", "absl"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.threads = max(1, threads)
        self.options = options
        self.error = ""
        self.experts: ExpertSet | None = None
        try:
            runtime = replace(options.runtime, threads=options.runtime.threads or self.threads)
            self.experts = load_run_experts(options, runtime)
        except ConfigError as exc:  # wrong weights or device on this node: every clip reports it, the driver stops
            self.error = str(exc)
        trace = os.environ.get(TRACE_ENV)
        self.trace = Path(trace) / f"worker-{os.getpid()}.txt" if trace else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        video = VideoInput(Path(str(batch["path"][0])), str(batch["clip_id"][0]))
        if self.trace is not None:
            self.trace.write_text(video.clip_id)
        if self.experts is None:
            outcome = ClipOutcome(video, reason=self.error, fatal=True)
        else:
            try:
                outcome = extract_outcome(video, self.experts, self.options)
            except MemoryError:
                outcome = ClipOutcome(video, reason=f"{video.path}: out of memory on a worker")
            except Exception as exc:  # a ConfigError on one node (e.g. its GPU is gone) stops the run
                outcome = ClipOutcome(video, reason=f"{video.path}: {exc}", fatal=True)
        if outcome.result is not None and not self.options.keep_proposals:
            outcome.result.proposals = None
        if self.trace is not None:
            self.trace.write_text("")
        # Pickled between our own processes (as Ray itself does); never read from a file.
        return {"index": batch["index"], "outcome": np.array([pickle.dumps(outcome)], dtype=object)}


class RayBackend:
    """Runs the experts in Ray Data actors; see the module docstring."""

    name = "ray"

    def __init__(self, ray_options: RayOptions | None = None) -> None:
        self.ray_options = ray_options or RayOptions()

    def connect(self) -> bool:
        """Connect to (or start) Ray; return True when this call started it (and should stop it)."""
        ray = import_ray()
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        address = self.ray_options.address
        if address is None:
            kwargs["num_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot connect to Ray at {address!r}: {exc}") from exc
        return True

    def outcomes(self, videos: list[VideoInput], options: ExtractOptions, progress: bool) -> Iterator[ClipOutcome]:
        ray = import_ray()
        started_here = self.connect()
        try:
            yield from self._run(ray, videos, options, progress)
        finally:
            if started_here:
                ray.shutdown()

    def _run(
        self, ray: Any, videos: list[VideoInput], options: ExtractOptions, progress: bool
    ) -> Iterator[ClipOutcome]:
        from ray.data import ActorPoolStrategy, DataContext

        opts = self.ray_options
        cpus = opts.cpus_per_worker
        if cpus is None:
            cpus = max(1.0, float(int(ray.cluster_resources().get("CPU", 1) // opts.workers)))
        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # results in input order: same shards as one process
        context.max_errored_blocks = -1  # a clip lost after its retries is recorded here, not fatal
        context.enable_progress_bars = False  # the driver's own progress bar counts clips
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        items = [{"index": i, "path": str(v.path.absolute()), "clip_id": v.clip_id} for i, v in enumerate(videos)]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        with warnings.catch_warnings():
            # Ray 2.60 has no named parameter for max_task_retries yet and warns on the generic one.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = dataset.map_batches(
                ExtractActor,
                batch_size=1,
                fn_constructor_kwargs={"options": options, "threads": int(cpus)},
                compute=ActorPoolStrategy(size=opts.workers, max_tasks_in_flight_per_actor=opts.max_in_flight),
                num_cpus=cpus,
                num_gpus=opts.num_gpus_per_worker or None,
                max_restarts=-1,
                max_task_retries=opts.max_retries,
            )
        seen: set[int] = set()
        for row in dataset.iter_rows():
            index = int(row["index"])
            seen.add(index)
            outcome: ClipOutcome = pickle.loads(row["outcome"])
            outcome.video = videos[index]
            yield outcome
        attempts = opts.max_retries + 1
        for index, video in enumerate(videos):
            if index not in seen:
                yield ClipOutcome(
                    video,
                    reason=(
                        f"{video.path}: its Ray worker died {attempts} time(s) while extracting it (killed, out of "
                        "memory, or a crash in native code); rerun with --retry-failed"
                    ),
                )
