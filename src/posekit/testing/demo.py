"""Where the test and benchmark data lies: the authors' SST-A demo proposals."""

from __future__ import annotations

import os
from pathlib import Path


def find_demo_dir() -> Path | None:
    """The demo folder: ``$POSEKIT_SSTA_DEMO``, else ``../shared/data/ssta-demo`` beside the repo."""
    env = os.environ.get("POSEKIT_SSTA_DEMO")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[3]
    candidates.append(repo.parent / "shared" / "data" / "ssta-demo")
    return next((c for c in candidates if any(c.glob("*2d.npz"))), None)
