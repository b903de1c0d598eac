# `make demo` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TORCH_STAMP := $(VENV)/.torch-stamp
TEST_STAMP := $(VENV)/.test-stamp
RAY_TUNE_STAMP := $(VENV)/.ray-tune-stamp

.PHONY: demo test lint typecheck unit services bench bench-search bench-model bench-gp bench-mf bench-full overhead ray-overhead clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: tune an MLP on scikit-learn's digits with Hyperband over epochs (1 to 27) and
## 2 workers into ./tunelab.db; 49 trials are one full Hyperband iteration (4 brackets)
demo: $(STAMP)
	$(VENV)/bin/tunelab run examples/digits_mlp.py:objective --study digits-mlp-hyperband \
		--space examples/digits_mlp.yaml --metric val_acc --direction max \
		--trials 49 --workers 2 --seed 0 \
		--scheduler hyperband --min-resource 1 --max-resource 27 --eta 3 \
		--baseline '{"hidden": 128, "layers": 1, "lr": 0.001, "alpha": 0.0001, "batch_size": 128}'
	$(VENV)/bin/tunelab fidelity digits-mlp-hyperband

## test: lint, type checks and the test suite (starts PostgreSQL if it is down)
test: lint typecheck services unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy

services:
	bash scripts/services.sh

unit: $(TEST_STAMP)
	$(VENV)/bin/pytest -q

## Optuna's GPSampler needs torch; torch==2.13.0 is the CPU build (a plain `torch`
## requirement pulls a multi-GB CUDA build). Only the benchmarks need it.
$(TORCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	touch $(TORCH_STAMP)

## the tests also exercise the extras: NAS (torch), the Ray executor, and the integrations
## (scikit-learn, Lightning, Keras on the torch backend, XGBoost, LightGBM); torch is the CPU
## build installed above, ray the version the cluster tests were written against
$(TEST_STAMP): $(TORCH_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,test-extras]' 'ray==2.60.0'
	touch $(TEST_STAMP)

## Ray Tune is needed only by the Ray overhead benchmark
$(RAY_TUNE_STAMP): $(TEST_STAMP)
	$(PY) -m pip install --quiet 'ray[tune]==2.60.0'
	touch $(RAY_TUNE_STAMP)

## ray-overhead: tunelab on Ray vs Ray Tune (writes docs/benchmarks/ray-overhead.md, ~3 min)
ray-overhead: $(RAY_TUNE_STAMP)
	$(PY) benchmarks/ray_overhead.py

## bench: the quick search suite (docs/benchmarks/search-quick.md, < 15 min on 2 cores)
## and the overhead benchmark against Optuna (docs/benchmarks/overhead.md)
bench: bench-search overhead

## bench-search: the quick search suite only
bench-search: $(TORCH_STAMP)
	$(PY) -m benchmarks.run --suite quick --jobs 2

## bench-model: model-based searchers against Optuna (docs/benchmarks/search-model.md, ~15 min)
bench-model: $(TORCH_STAMP)
	$(PY) -m benchmarks.run --suite model --jobs 2

## bench-gp: GP searchers against Optuna's GPSampler (docs/benchmarks/search-model-gp.md)
bench-gp: $(TORCH_STAMP)
	$(PY) -m benchmarks.run --suite model-gp --jobs 2

## bench-mf: schedulers and BOHB against Optuna's pruners (docs/benchmarks/multi-fidelity.md,
## about 2 CPU-hours; `python -m benchmarks.run --suite mf --jobs 2 --resume J.jsonl` survives
## an interruption: a rerun skips the runs the journal holds, so start a new journal after
## a code change)
bench-mf: $(TORCH_STAMP)
	$(PY) -m benchmarks.run --suite mf --jobs 2

## overhead: the overhead benchmark against Optuna (writes docs/benchmarks/overhead.md)
overhead: $(STAMP)
	$(PY) benchmarks/overhead.py

## bench-full: the full search suite (every problem and method, 30 seeds: ~45 CPU-hours)
## and the overhead benchmark
bench-full: $(TORCH_STAMP)
	$(PY) -m benchmarks.run --suite full --jobs 2
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
