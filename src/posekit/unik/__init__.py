"""UNIK (thesis 3.4): the model."""

from posekit.unik.model import UNIK, count_parameters

__all__ = ["UNIK", "count_parameters"]
