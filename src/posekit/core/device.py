"""Where models run: the one ``--device`` option of every command, its check, and the rule that resolves ``auto``."""

from __future__ import annotations

from dataclasses import dataclass, field

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds

DEVICE_FORMS = "auto, cpu, cuda or cuda:N"
"""The values ``--device`` accepts, as the help and the errors name them."""


def check_device(device: str) -> None:
    """Fail once, before any work, when ``device`` is malformed or names a GPU this machine does not have."""
    if device in ("auto", "cpu"):
        return
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"unknown --device {device!r}; use {DEVICE_FORMS}")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible on this machine; use --device auto or cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")


@dataclass(frozen=True)
class DeviceOptions:
    """Where the models of a command run; the options of extraction, training and evaluation inherit it.

    The default is ``auto``: on a GPU machine (a cluster node) the models run on its first GPU without a flag,
    and on a machine without one they run on the CPU, as they did when the default was ``cpu``. The device
    changes how a run computes, not what it is: an extraction manifest leaves it out of the settings a resume
    must match, so a run made with ``--device cpu`` resumes under ``auto``. ``auto`` is resolved where the
    models are loaded (:meth:`resolve`), so options built on a machine without a GPU (a Ray head node) still
    mean "the GPU" on the workers that have one.
    """

    device: str = field(
        default="auto",
        metadata={"help": f"Where models run: {DEVICE_FORMS} (auto: the first CUDA GPU if one is visible, else cpu)."},
    )

    def __post_init__(self) -> None:
        check_device(self.device)
        check_bounds(self)

    def resolve(self) -> str:
        """The torch device to run on here: ``auto`` is ``cuda:0`` when torch sees a CUDA GPU, else ``cpu``;
        any other value as given."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"


DEFAULT_DEVICE = DeviceOptions()
"""The default device options (``auto``), for function signatures."""
