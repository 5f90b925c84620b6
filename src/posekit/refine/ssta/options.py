"""The one SST-A options object: every mode, every knob, declared once (the options convention).

:class:`AggregationOptions` reaches every mode; :class:`RobustOptions` and :class:`FusedOptions`
are nested in it and read only in robust and fused mode. The CLI turns all three into flags
(``posekit/cli/options.py``); ``settings()`` is what a manifest records.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds
from posekit.refine.ssta.equations import DEFAULT_GAMMA, EPS

Mode = Literal["thesis", "robust", "fused"]
Missing = Literal["skip", "zero"]
Normaliser = Literal["head-neck", "shoulders", "torso"]
JointChoice = Literal["body12", "body13", "all"]
Anchor = Literal["pair", "medoid"]
Smoother = Literal["savgol", "median"]
FirstPick = Literal["lower", "public"]
FuseWeights = Literal["scores", "equal"]
LoneJoints = Literal["drop", "score", "keep"]


@dataclass(frozen=True)
class RobustOptions:
    """The extra steps of ``mode="robust"``; each one can be switched off.

    Distances are in units of the track's body scale (:func:`posekit.refine.ssta.body_scale`,
    pixels); a track without a known scale (no shoulders in any proposal) skips both threshold tests.
    """

    anchor: Anchor = field(
        default="pair",
        metadata={
            "help": "consensus joint to (re-)initialise and re-anchor on: pair = the eq. 3.1 t=0 rule, "
            "medoid = the expert closest to all others",
            "flag": "--robust-anchor",
        },
    )
    drift_threshold: float | None = field(
        default=0.5,
        metadata={
            "help": "re-anchor on the consensus when the previous aggregated joint is farther than this from "
            "every expert, in body scales (none: off)",
            "min": 0.0,
            "min_open": True,
        },
    )
    consensus_threshold: float | None = field(
        default=0.5,
        metadata={
            "help": "when two experts agree within this many body scales, eq. 3.1 chooses only among the experts "
            "that near the consensus (none: off)",
            "min": 0.0,
            "min_open": True,
        },
    )
    reinit_gap: int | None = field(
        default=1,
        metadata={
            "help": "re-initialise a joint on the consensus after it was missing this many frames "
            "(none: hold its last position, as thesis mode)",
            "min": 1,
        },
    )
    fill_gaps: int = field(
        default=0,
        metadata={"help": "fill interior gaps of at most this many frames by linear interpolation (0: off)", "min": 0},
    )
    smooth: Smoother | None = field(
        default=None,
        metadata={"help": "temporal smoothing of each joint track (none: off); missing joints stay missing"},
    )
    smooth_window: int = field(
        default=9, metadata={"help": "smoothing filter length in frames (odd; shortened for shorter tracks)", "min": 3}
    )
    smooth_polyorder: int = field(
        default=2, metadata={"help": "polynomial order of the Savitzky-Golay smoother", "min": 0}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.smooth_window % 2 == 0:
            raise ConfigError(f"--smooth-window must be an odd number of frames (got {self.smooth_window})")
        if self.smooth_polyorder >= self.smooth_window:
            raise ConfigError(
                f"--smooth-polyorder must be below --smooth-window {self.smooth_window} (got {self.smooth_polyorder})"
            )


@dataclass(frozen=True)
class FusedOptions:
    """The steps of ``mode="fused"`` (:mod:`posekit.refine.ssta.fused`).

    Distances are in units of the pose's body scale (:func:`posekit.skeleton.geometry.body_scale`,
    the median over the experts of the frame, else of the track; pixels).
    """

    fuse_tolerance: float = field(
        default=0.2,
        metadata={
            "help": "experts within this many body scales of the closest pair's midpoint are averaged into the "
            "joint; a joint no two experts give within it is taken from one expert",
            "min": 0.0,
            "min_open": True,
        },
    )
    fuse_weights: FuseWeights = field(
        default="scores",
        metadata={"help": "weights of the averaged proposals: scores = each expert's joint score, equal = 1"},
    )
    swap_repair: bool = field(
        default=True,
        metadata={"help": "flip back an expert whose left and right joints are swapped relative to the others"},
    )
    swap_margin: float = field(
        default=0.1,
        metadata={
            "help": "flip only when it lowers the mean pairwise left/right joint distance by more than this many "
            "body scales",
            "min": 0.0,
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class AggregationOptions:
    """SST-A settings (thesis 3.3.2) for every mode: :func:`posekit.refine.ssta.aggregate` takes them."""

    mode: Mode = field(
        default="thesis",
        metadata={
            "help": "thesis = eqs. 3.1, 3.3 and 3.4 to the letter; robust = drift and gap handling on top; "
            "fused = score-weighted mean of the experts that agree, sides repaired, C of eq. 3.4 on it"
        },
    )
    gamma: float = field(
        default=DEFAULT_GAMMA,
        metadata={"help": "keep aggregated poses with confidence C >= gamma (eq. 3.3); 0 keeps every pose", "min": 0.0,
                  "max": 1.0},
    )  # fmt: skip
    normaliser: Normaliser = field(
        default="head-neck",
        metadata={
            "help": "D_normal of eq. 3.4: head-neck (thesis), shoulders (the authors' code) or torso; where it "
            "is undefined the others stand in, scaled to its size"
        },
    )
    joints: JointChoice = field(
        default="body13",
        metadata={"help": "joints averaged in eq. 3.4: body13 (thesis), body12 (the authors' code) or all"},
    )
    missing: Missing = field(
        default="skip",
        metadata={
            "help": "thesis mode: skip = missing joints take no part; zero = the authors' code, a missing joint "
            "is the point (0, 0)"
        },
    )
    eps: float = field(
        default=EPS, metadata={"help": "offset epsilon added to D_normal in eq. 3.4, pixels", "min": 0.0}
    )
    first_pick: FirstPick = field(
        default="lower",
        metadata={
            "help": "thesis mode, eq. 3.1 at t = 0: lower = the lower-index expert of the closest pair; public = "
            "the authors' public code (three experts: a pair with expert 0 gives its other member, pair (1, 2) "
            "gives 1; equal distances go to the last pair of (1, 2), (0, 1), (0, 2))"
        },
    )
    lone_joints: LoneJoints = field(
        default="drop",
        metadata={
            "help": "a joint only one of several posing experts gives: drop = missing on a partial view (the "
            "experts agree on at most half the joints); score = kept, its score divided by the number of posing "
            "experts; keep = taken as found (the earlier behaviour). Applied to the poses SST-A kept, in every "
            "mode; the equations are untouched"
        },
    )
    robust: RobustOptions = field(default_factory=RobustOptions)
    fused: FusedOptions = field(default_factory=FusedOptions)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.mode != "thesis" and self.missing == "zero":
            raise ConfigError(f"--missing zero is thesis-only: {self.mode} mode treats missing joints as missing")
        if self.mode != "thesis" and self.first_pick != "lower":
            raise ConfigError(f"--first-pick {self.first_pick} is thesis-only (got --mode {self.mode})")

    def settings(self) -> dict[str, Any]:
        """The fields as the manifest records them: the robust and fused ones only in their mode, where they act,
        ``first_pick`` only where it is not the default (so manifests written before it resume)."""
        nested = ("robust", "fused", "first_pick")
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in nested}
        if self.first_pick != "lower":
            out["first_pick"] = self.first_pick
        if self.mode in ("robust", "fused"):
            out[self.mode] = dataclasses.asdict(getattr(self, self.mode))
        return out
