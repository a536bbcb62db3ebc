# Two commands do everything on a fresh machine (see README):
#   make run    the default analysis (config/config.yaml) on the built-in simulation
#   make test   lint + unit tests + the workflow end to end on config/test.yaml
# Both create .venv from the pinned lock first.

PYTHON ?= python3
VENV   ?= .venv
CORES  ?= $(shell nproc 2>/dev/null || echo 2)
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: venv run test unit lint format figures thesis talk report bench mutation clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "caloreco needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: venv
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/default all

thesis talk: venv
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/default $@

report: venv
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/default --report results/report.html

lint: venv
	$(BIN)/ruff check src tests benchmarks workflow/scripts
	$(BIN)/ruff format --check src tests benchmarks workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/test.yaml

# unit tests in parallel (pytest-xdist, one worker a core); the workflow tests share one run of
# config/test.yaml (a session fixture), so they stay in one process that gives Snakemake the cores
unit: venv
	$(BIN)/python -m pytest -m "not workflow and not slurm" -n $(CORES)

test: venv lint unit
	$(BIN)/python -m pytest -m "workflow or slurm" --durations=15

bench: venv
	$(BIN)/python benchmarks/run_all.py --out results/benchmarks.json

# mutmut on the physics and metrics modules, one worker, module by module (slow: not in CI)
mutation: venv
	$(BIN)/python tests/mutation/run.py --out results/mutation.json

format: venv
	$(BIN)/ruff format src tests benchmarks workflow/scripts
	$(BIN)/ruff check --fix src tests benchmarks workflow/scripts
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake
