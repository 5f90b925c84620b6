"""Python values as JSON (and YAML) hold them: the one conversion every report, card and config file uses."""

from __future__ import annotations

import json
import math
from pathlib import PurePath
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON: tuples as lists, numpy scalars and arrays as Python numbers and
    lists, paths as text, dict keys as JSON makes them (``1`` -> ``"1"``), and non-finite floats as None (JSON
    has no NaN), so settings compare equal with what a file recorded and reports load anywhere."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
