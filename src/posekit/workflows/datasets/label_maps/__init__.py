"""Bundled label maps (Python modules, so they install without package-data settings)."""

from posekit.workflows.datasets.label_maps import kinetics400_posetics

BUNDLED = {kinetics400_posetics.NAME: kinetics400_posetics}

__all__ = ["BUNDLED", "kinetics400_posetics"]
