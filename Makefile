# sarcomp: learned SAR compression. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXP    ?= baseline
RUN    ?=
DATA   ?= data/synthetic

.DEFAULT_GOAL := help
.PHONY: help venv data data-recipe demo train eval compare test lint format tensorboard summarize memory-check bench clean

help: ## Show this help
	@grep -E '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install sarcomp with its test extras

data: $(STAMP) ## Generate the synthetic SAR data set into data/synthetic (if absent)
	$(PY) scripts/make_synthetic.py --root $(DATA)

data-recipe: ## 256 training scenes for the recipes (configs/experiment/recipe_*.yaml) into data/synthetic_recipe
	$(PY) scripts/make_synthetic.py --root data/synthetic_recipe --train 256 --val 8 --test 8

demo: data ## Train the quick demo experiments on synthetic data and print the results table
	$(PY) scripts/demo.py

train: data ## Train one experiment: make train EXP=cbam_bottleneck
	$(PY) train.py experiment=$(EXP)

eval: $(STAMP) ## Evaluate a run folder on its test split: make eval RUN=outputs/train/runs/...
	@test -n "$(RUN)" || { echo "usage: make eval RUN=<run folder>"; exit 2; }
	$(PY) scripts/evaluate.py "$(RUN)"

compare: $(STAMP) ## Experiment-plan table, BD-rates and RD plots: make compare RUNS="<run or sweep folders>" OUT=table.md
	@test -n "$(RUNS)" || { echo "usage: make compare RUNS=\"<run or sweep folders>\" [OUT=<file.md>]"; exit 2; }
	$(PY) scripts/compare.py $(RUNS) --out $(or $(OUT),outputs/compare/table.md)

summarize: $(STAMP) ## Parameters and MACs of V0-V3 and the placement sweep
	$(PY) scripts/summarize.py

memory-check: $(STAMP) ## Peak CUDA memory of every experiment against 8 GB (a labelled estimate on CPU)
	$(PY) scripts/memory_check.py

bench: $(STAMP) ## Benchmarks and the speed targets -> experiments/benchmarks/ (QUICK=1: tiny sizes)
	OMP_NUM_THREADS=1 $(PY) scripts/benchmark.py $(if $(QUICK),--quick --out outputs/bench-quick)

tensorboard: $(STAMP) ## Serve TensorBoard over outputs/ (or LOGDIR=<run or sweep folder>)
	$(VENV)/bin/tensorboard --logdir $(or $(LOGDIR),outputs)

lint: $(STAMP) ## Lint and format check (ruff); `make format` fixes what it can
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: $(STAMP) ## Run the test suite (CPU, a few minutes)
	$(PY) -m pytest -q

clean: ## Remove generated data and run outputs (keeps .venv)
	rm -rf outputs multirun data/synthetic
