"""UNIK (thesis 3.4): the model, its input streams, trainer, evaluation and a synthetic dataset."""

from posekit.unik.model import UNIK, count_parameters
from posekit.unik.streams import STREAMS, fuse_scores, make_stream

__all__ = ["STREAMS", "UNIK", "count_parameters", "fuse_scores", "make_stream"]
