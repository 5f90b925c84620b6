# posekit: `make demo` runs the pipeline on the bundled clip, `make test` runs the test suite,
# `make check` is the fast inner loop (lint, import contract, the tests that run no real model).
# Both create the virtual environment in .venv on first use (and refresh it when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.posekit-installed
DEMO_OUT := demo-out
export YOLO_OFFLINE := 1

.PHONY: demo test check lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/posekit extract assets/vtest-4s.mp4 --out $(DEMO_OUT) --experts yolo,yolo-topdown,mediapipe --imgsz 1280 --overwrite
	$(BIN)/posekit inspect $(DEMO_OUT) --plot $(DEMO_OUT)/histograms.png
	$(BIN)/posekit viz vtest-4s.mp4 --shards $(DEMO_OUT) --out $(DEMO_OUT)/overlay.mp4

test: $(STAMP)
	$(BIN)/python -m pytest

check: lint
	POSEKIT_FAST_TIER=1 $(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/extract_overhead.py

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .ruff_cache
