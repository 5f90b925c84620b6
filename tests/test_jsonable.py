"""The one conversion of Python values to what JSON holds (reports, run cards, UNIK configs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posekit.core.jsonable import jsonable


def test_values_read_back_from_json_equal_their_jsonable_form():
    value = {"heads": ("loc", "cls"), "sizes": {1: 320, "b": (8, 16)}, "weights": Path("run/best.pt"), "n": 3}
    assert json.loads(json.dumps(jsonable(value))) == jsonable(value)
    assert jsonable(value) == {
        "heads": ["loc", "cls"],
        "sizes": {"1": 320, "b": [8, 16]},
        "weights": "run/best.pt",
        "n": 3,
    }


def test_numpy_numbers_become_python_ones_and_non_finite_floats_none():
    out = jsonable({"ap": np.float32(0.5), "count": np.int64(4), "nan": float("nan"), "xs": np.array([1.0, np.inf])})
    assert out == {"ap": 0.5, "count": 4, "nan": None, "xs": [1.0, None]}
    assert type(out["count"]) is int
    json.dumps(out, allow_nan=False)
