# Two commands for users: `make run` and `make test`. Both create the
# environment when missing, on one of two pinned stacks (stacks/README.md):
#   tfx121: TFX 1.21 on Python 3.13, .venv-tfx121, stacks/constraints-tfx121-py313.txt
#           (its ml-metadata/tfx-bsl/TFDV wheels need glibc >= 2.39);
#   tfx116: TFX 1.16 on Python 3.10, .venv, constraints.txt (glibc >= 2.17).
# The newer one when the machine can run it, else the older; STACK=... picks.
SHELL := /bin/bash
OUTPUT ?= runs/default
# `make run DATASET=taxi` writes to runs/taxi unless OUTPUT is given.
RUN_OUTPUT = $(if $(and $(DATASET),$(filter file,$(origin OUTPUT))),runs/$(basename $(notdir $(DATASET))),$(OUTPUT))
GLIBC := $(shell getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $$2}')
GLIBC_OK := $(shell printf '2.39\n%s\n' '$(GLIBC)' | sort -V -C && echo yes)
# python3.10 on PATH, else a pyenv-installed 3.10 (its shim fails unless selected).
PYTHON310 ?= $(shell if python3.10 --version >/dev/null 2>&1; then command -v python3.10; \
	else ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | tail -n 1; fi)
PYTHON313 ?= $(shell python3.13 --version >/dev/null 2>&1 && command -v python3.13)
ifndef STACK
  ifeq ($(GLIBC_OK)$(if $(PYTHON313),yes),yesyes)
    STACK := tfx121
    STACK_WHY := glibc $(GLIBC) >= 2.39 and $(PYTHON313) found
  else
    STACK := tfx116
    STACK_WHY := $(if $(GLIBC_OK),no python3.13 on PATH,glibc $(GLIBC) < 2.39 (TFX 1.21's wheels need 2.39))
  endif
else
  STACK_WHY := STACK=$(STACK) given
endif
ifeq ($(STACK),tfx121)
  VENV := .venv-tfx121
  CONSTRAINTS := stacks/constraints-tfx121-py313.txt
  STACK_PYTHON := $(PYTHON313)
  STACK_NEEDS := Python 3.13 and glibc >= 2.39 are required for STACK=tfx121 (or use STACK=tfx116)
else ifeq ($(STACK),tfx116)
  VENV := .venv
  CONSTRAINTS := constraints.txt
  STACK_PYTHON := $(PYTHON310)
  STACK_NEEDS := Python 3.10 is required: install python3.10 (e.g. pyenv install 3.10)
else
  $(error STACK=$(STACK) is unknown: use STACK=tfx116 or STACK=tfx121)
endif
PY := $(VENV)/bin/python
ifeq ($(filter clean,$(MAKECMDGOALS)),)
  $(info stack $(STACK): $(STACK_WHY))
endif

.PHONY: env run test test-fast serve loop bench-serving bench-pipeline bench-monitoring bench-datasets bench-small-data bench-taxi-loop bench-analysis bench-explain clean

$(VENV)/.installed: setup.py $(CONSTRAINTS)
	@test -n "$(STACK_PYTHON)" || { echo "$(STACK_NEEDS)"; exit 1; }
	test -x $(PY) || $(STACK_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[test,kubeflow]'
	touch $@

env: $(VENV)/.installed

# DATASET=taxi|penguins|path/to/spec.yaml runs another data set (its own
# pipeline and served model; OUTPUT defaults to runs/<DATASET> then).
run: env
	$(PY) -m pipeline run --output $(RUN_OUTPUT) $(if $(DATASET),--dataset $(DATASET)) $(ARGS)

# Two pytest-xdist workers (one per core), whole files each (a module's
# fixtures are made once); tests/conftest.py makes each shared pipeline run
# once for both. make test hands the files out in the order conftest sets
# (--no-loadscope-reorder: the shared runs' files alternate with the
# others); the fast tier has no shared run, so xdist's own order (files
# with the most tests first) packs it best.
# pytest-randomly shuffles the order in every run; the suite prints its
# seed at the end: PYTEST_ARGS=--randomly-seed=N repeats that order,
# PYTEST_ARGS='-p no:randomly' keeps the file order.
# --durations: the slowest tests at the end, so a slow run says where it went.
PYTEST := $(PY) -m pytest -q -rfEs -p no:warnings -p tests.ci_no_skip -n 2 --dist loadfile
test: env
	$(PYTEST) --no-loadscope-reorder tests --durations=15 $(PYTEST_ARGS)

# The fast tier: no pipeline run (the e2e marker, tests/conftest.py).
test-fast: env
	$(PYTEST) tests -m "not e2e" --durations=10 $(PYTEST_ARGS)

# The life cycle as one command (pipeline/loop.py): into runs/loop unless
# OUTPUT is given, so it never changes what `make run` pushed.
loop: env
	$(PY) -m pipeline loop --output $(if $(filter command line environment,$(origin OUTPUT)),$(OUTPUT),runs/loop) $(ARGS)

serve: env
	$(PY) -m serving.model_server --port=8500 --rest_api_port=8501 \
	  --model_name=complaints --model_base_path=$(abspath $(OUTPUT))/serving/complaints

bench-serving: env
	$(PY) -m benchmarks.bench_serving

bench-monitoring: env
	$(PY) -m benchmarks.bench_monitoring

# The taxi and penguin specs' models next to TFX's own taxi example model
# and gradient-boosted trees on the same split -> results/datasets.json.
bench-datasets: env
	$(PY) -m benchmarks.bench_datasets

# The CFPB model against a reference that knows which inputs matter, at
# 4k, 15k and 50k rows, 3 seeds each -> results/small_data.json.
bench-small-data: env
	$(PY) -m benchmarks.bench_small_data

# The loop on the real taxi trips, a round per quarter -> results/taxi_loop.json.
bench-taxi-loop: env
	$(PY) -m benchmarks.bench_taxi_loop

bench-pipeline: env
	$(PY) -m benchmarks.bench_pipeline

# Attributions per 1,000 rows, permutation importance, fairness and the
# ModelAnalysis component's time -> results/analysis.json.
bench-analysis: env
	$(PY) -m benchmarks.bench_analysis

# The server's :explain next to :predict, p50/p99 at 1 and 32 complaints per
# request -> results/explain.json (run alone: flock /tmp/heavy.lock make ...).
bench-explain: env
	$(PY) -m benchmarks.bench_explain $(ARGS)

clean:
	rm -rf .venv .venv-tfx121 build *.egg-info

# The serving fuzz tier for longer than `make test` runs it (random seeds,
# FUZZ_EXAMPLES examples per target; each crash found becomes a regression test).
.PHONY: fuzz
fuzz: env
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_RANDOM=1 $(PY) -m pytest tests/serving/test_fuzz.py -q -p no:warnings

# Each further subsystem (a scheduler, a second stack, ...) keeps its targets
# in its own file under make/; they may use VENV, PY and OUTPUT from here.
include $(wildcard make/*.mk)
