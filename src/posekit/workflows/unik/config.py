"""The UNIK training configuration, declared once: the options, the thesis presets, config files (YAML/TOML).

Kept apart from :mod:`posekit.workflows.unik.train` so that the CLI can build its flags without importing torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.core.jsonable import jsonable
from posekit.core.options import coerce, field_types, flag_name
from posekit.unik.thesis import THESIS_CHANNELS
from posekit.workflows.unik.checks import read_unik_checkpoint

Stream = Literal["joint", "bone", "joint_motion", "bone_motion"]
Preset = Literal[
    "posetics",
    "ntu60-xsub",
    "ntu60-xview",
    "ntu120-xsub",
    "ntu120-xset",
    "smarthome-cs",
    "smarthome-cv1",
    "smarthome-cv2",
    "penn",
]
_SCHEDULE = "Training schedule"
_MODEL = "Model (thesis 3.4)"
_RUN = "Run"
_DATA = "Input (thesis 3.7.1)"


@dataclass(frozen=True)
class TrainConfig(DeviceOptions):
    """Every training option; a config file (YAML/TOML) and the CLI flags use the same names
    (``lr_steps`` or ``lr-steps``). Defaults are the thesis setting for Posetics (3.7.1); ``device`` and its
    ``auto`` default come from :class:`DeviceOptions`."""

    data: str = field(
        default="",
        metadata={"help": "Skeletons shards with labels.json; train/ and val/ folders are the splits (required)."},
    )
    val_data: str | None = field(default=None, metadata={"help": "Validation shards, if not DATA/val."})
    labels: str | None = field(
        default=None, metadata={"help": "Labels sidecar (labels.json/.csv), if not beside the shards."}
    )
    out: str = field(default="runs/unik", metadata={"help": "Run folder: checkpoints, metrics, plots."})
    preset: Preset | None = field(
        default=None, metadata={"help": "Thesis schedule (epochs, LR steps, window) of a dataset; flags win."}
    )
    stream: Stream = field(
        default="joint", metadata={"help": "Input stream: joints, bones, or their frame-to-frame motion."}
    )
    epochs: int = field(default=65, metadata={"help": "Training epochs.", "panel": _SCHEDULE, "min": 1})
    batch_size: int = field(default=32, metadata={"help": "Clips per step and process.", "panel": _SCHEDULE, "min": 1})
    lr: float = field(
        default=0.1, metadata={"help": "SGD learning rate.", "panel": _SCHEDULE, "min": 0, "min_open": True}
    )
    momentum: float = field(
        default=0.9, metadata={"help": "SGD momentum.", "panel": _SCHEDULE, "min": 0, "max": 1, "max_open": True}
    )
    nesterov: bool = field(default=True, metadata={"help": "Nesterov momentum.", "panel": _SCHEDULE})
    weight_decay: float = field(default=0.0001, metadata={"help": "SGD weight decay.", "panel": _SCHEDULE, "min": 0})
    lr_steps: tuple[int, ...] = field(
        default=(45, 55),
        metadata={"help": "Epochs where the LR is multiplied by lr-gamma.", "panel": _SCHEDULE, "min": 0},
    )
    lr_gamma: float = field(
        default=0.1,
        metadata={"help": "LR factor at each of lr-steps.", "panel": _SCHEDULE, "min": 0, "min_open": True, "max": 1},
    )
    warmup_epochs: float = field(
        default=0.0, metadata={"help": "Linear LR warm-up, in epochs.", "panel": _SCHEDULE, "min": 0}
    )
    window: int = field(
        default=150, metadata={"help": "Frames per training clip (random window).", "panel": _SCHEDULE, "min": 1}
    )
    pad: Literal["loop", "zero"] = field(
        default="loop",
        metadata={"help": "Clips shorter than the window: loop them or pad with zeros.", "panel": _SCHEDULE},
    )
    center: bool = field(
        default=False, metadata={"help": "Centre each clip on its person's mean chest.", "panel": _SCHEDULE}
    )
    layout: str = field(
        default="auto",
        metadata={
            "help": "Joints the model sees: a layout name or layout file (the shards are converted to it, e.g. "
            "posetics17 for transfer) or auto (the shards' own when its bones form a tree, else posetics17).",
            "panel": _DATA,
        },
    )
    coords: Literal["2d", "3d"] = field(
        default="2d",
        metadata={"help": "2d: screen coordinates of keypoints; 3d: the tracks' keypoints_3d.", "panel": _DATA},
    )
    normalise: Literal["none", "unik"] = field(
        default="none",
        metadata={
            "help": "unik: the authors' pre-normalisation (replay of empty frames; 3D: centring, two rotations).",
            "panel": _DATA,
        },
    )
    frames: int | None = field(
        default=None,
        metadata={
            "help": "With --normalise unik: cut or replay every clip to this many frames first (NTU: 300).",
            "panel": _DATA,
            "min": 1,
        },
    )
    random_move: bool = field(
        default=False, metadata={"help": "Random-move augmentation of training windows.", "panel": _DATA}
    )
    test_frames: Literal["all", "window"] = field(
        default="all",
        metadata={
            "help": "Validate on all frames of each clip (thesis; clips are replayed to the longest of the set) "
            "or on the centred --window.",
            "panel": _DATA,
        },
    )
    metric: Literal["top1", "mean_class"] = field(
        default="top1",
        metadata={"help": "Validation score that picks best.pt (Smarthome: mean per-class accuracy).", "panel": _RUN},
    )
    max_persons: int = field(default=2, metadata={"help": "Persons M per clip.", "panel": _MODEL, "min": 1})
    num_heads: int = field(default=3, metadata={"help": "S-LSU heads N.", "panel": _MODEL, "min": 1})
    tau: int = field(default=1, metadata={"help": "S-LSU temporal window tau, in frames.", "panel": _MODEL, "min": 1})
    channels: tuple[int, ...] = field(
        default=THESIS_CHANNELS, metadata={"help": "Output channels of each block.", "panel": _MODEL, "min": 1}
    )
    strides: tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "Temporal stride of each block (default: the thesis').", "panel": _MODEL, "min": 1},
    )
    dilations: tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "T-LSU dilation of each block (default: the thesis').", "panel": _MODEL, "min": 1},
    )
    dropout: float = field(
        default=0.0,
        metadata={"help": "Dropout before the classifier.", "panel": _MODEL, "min": 0, "max": 1, "max_open": True},
    )
    clip_grad: float = field(
        default=0.0, metadata={"help": "Max gradient norm, 0 = off.", "panel": _SCHEDULE, "min": 0}
    )
    amp: bool = field(default=True, metadata={"help": "Mixed precision on CUDA.", "panel": _RUN})
    workers: int = field(
        default=2, metadata={"help": "Data loader processes per training process.", "panel": _RUN, "min": 0}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the initialisation, shuffling and windows.", "panel": _RUN})
    pretrained: str | None = field(
        default=None, metadata={"help": "Checkpoint whose backbone to start from; the classifier is new."}
    )
    linear_probe: bool = field(default=False, metadata={"help": "Train only the classifier."})
    resume: bool = field(default=False, metadata={"help": "Continue the run in --out from its last.pt."})
    resume_from: str | None = field(default=None, metadata={"help": "Continue from this checkpoint."})
    eval_every: int = field(default=1, metadata={"help": "Validate every N epochs.", "panel": _RUN, "min": 1})
    log_every: int = field(default=50, metadata={"help": "Print every N steps, 0 = never.", "panel": _RUN, "min": 0})
    log_seconds: float = field(
        default=30.0,
        metadata={
            "help": "Also print progress every N seconds of training (step/total, loss, samples/s, ETA), 0 = never.",
            "panel": _RUN,
            "min": 0,
        },
    )
    tensorboard: bool = field(default=False, metadata={"help": "Also log TensorBoard events.", "panel": _RUN})
    stop_after_steps: int = field(
        default=0,
        metadata={
            "help": "Stop as a kill would after N steps, 0 = never (tests).",
            "panel": _RUN,
            "min": 0,
            "hidden": True,
        },
    )


_NTU = {"window": 300, "frames": 300, "pad": "loop", "coords": "3d", "normalise": "unik", "batch_size": 32}
_SMARTHOME = {"epochs": 50, "lr_steps": (30, 40), "window": 400, "normalise": "unik", "batch_size": 16}
PRESETS: dict[str, dict[str, Any]] = {
    "posetics": {"epochs": 65, "lr_steps": (45, 55), "window": 150, "random_move": True, "batch_size": 64},
    "ntu60-xsub": {"epochs": 50, "lr_steps": (30, 40), **_NTU},
    "ntu60-xview": {"epochs": 50, "lr_steps": (30, 40), **_NTU},
    "ntu120-xsub": {"epochs": 60, "lr_steps": (30, 50), **_NTU},
    "ntu120-xset": {"epochs": 60, "lr_steps": (30, 50), **_NTU},
    "smarthome-cs": {**_SMARTHOME, "metric": "mean_class"},
    "smarthome-cv1": {**_SMARTHOME, "metric": "mean_class", "random_move": True},
    "smarthome-cv2": {**_SMARTHOME, "metric": "mean_class", "random_move": True},
    "penn": {"epochs": 30, "lr_steps": (10, 20), "window": 150, "random_move": True, "batch_size": 8},
}
"""Thesis 3.7.1 per dataset and benchmark: epochs, LR decay epochs, training window, inputs; where the thesis
is silent (batch size, random move) the authors' configs. The benchmark's split comes from the import
(``posekit import ntu --benchmark xsub``); docs/unik.md lists each difference from the authors' configs."""


def load_config_file(path: Path | str) -> dict[str, Any]:
    """Options from a ``.yaml``/``.yml``/``.toml`` file (a flat table of option names)."""
    path = Path(path)
    try:
        text = path.read_text()
        values = _parse_toml(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config {path} must be a table of option: value")
    return values


def _parse_toml(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:
        raise ConfigError("TOML configs need Python 3.11 or newer; use a YAML config") from None
    return tomllib.loads(text)


def resolve_config(overrides: dict[str, Any] | None = None, config_file: str | Path | None = None) -> TrainConfig:
    """Defaults < preset < config file < ``overrides`` (``None`` values are ignored).

    Config-file values and overrides go through the flags' own conversion
    (:func:`posekit.core.options.coerce`), so ``1e-4``, ``[45, 55]`` or ``45,55`` read the same from a file
    as from a flag. With ``pretrained``, the model shape options not given (channels, heads, ...) come from
    the pre-trained checkpoint."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(_typed(load_config_file(config_file), f"in {config_file}"))
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    values.update(_typed(given))
    if values.get("preset") is not None:
        values = {**PRESETS[values["preset"]], **values}
    if values.get("pretrained"):
        architecture = _architecture_of(values["pretrained"])
        values = {**_typed(architecture, f"of --pretrained {values['pretrained']}"), **values}
    cfg = TrainConfig(**values)
    _check(cfg)
    if cfg.resume_from or (cfg.resume and (Path(cfg.out) / "last.pt").is_file()):
        flag = "--resume-from" if cfg.resume_from else "--resume"
        read_unik_checkpoint(cfg.resume_from or Path(cfg.out) / "last.pt", flag)
    return cfg


def _typed(values: dict[str, Any], where: str | None = None) -> dict[str, Any]:
    """``values`` keyed by option name (``lr-steps`` or ``lr_steps``), each converted to its option's type; an
    unknown name or a value of the wrong type is refused in one line naming it: as ``key where`` (``lr_steps
    in run.yaml``), or as its flag when ``where`` is None (flags and overrides)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted({key.replace("-", "_") for key in values} - set(fields))
    if unknown:
        raise ConfigError(f"unknown training options {unknown}; options: {sorted(fields)}")
    types = field_types(TrainConfig)
    out = {}
    for key, value in values.items():
        field = fields[key.replace("-", "_")]
        out[field.name] = coerce(
            field, types[field.name], value, flag_name(field) if where is None else f"{key} {where}"
        )
    return out


ARCHITECTURE = ("channels", "strides", "dilations", "num_heads", "tau", "max_persons")


def _architecture_of(checkpoint: str) -> dict[str, Any]:
    """The model shape options of a checkpoint, so fine-tuning need not repeat them."""
    args = read_unik_checkpoint(checkpoint, "--pretrained", weights_only_file=True).get("model_args", {})
    renamed = {**args, "max_persons": args.get("num_persons")}
    return {k: renamed[k] for k in ARCHITECTURE if renamed.get(k) is not None}


def _check(cfg: TrainConfig) -> None:
    if not cfg.data:
        raise ConfigError("no training data: pass --data (a folder of skeletons shards)")


def save_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(jsonable(dataclasses.asdict(cfg)), sort_keys=False))
