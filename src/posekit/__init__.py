"""posekit: skeleton extraction and refinement for human action recognition."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posekit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
