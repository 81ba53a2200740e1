# Two commands for users: `make run` and `make test`. Both create the
# environment (.venv, Python 3.10, pinned by constraints.txt) when missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
OUTPUT ?= runs/default
# python3.10 on PATH, else a pyenv-installed 3.10 (its shim fails unless selected).
PYTHON310 ?= $(shell if python3.10 --version >/dev/null 2>&1; then command -v python3.10; \
	else ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | tail -n 1; fi)

.PHONY: env run test serve loop bench-serving bench-pipeline bench-monitoring clean

$(VENV)/.installed: setup.py constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 is required: install python3.10 (e.g. pyenv install 3.10)"; exit 1; }
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[test,kubeflow]'
	touch $@

env: $(VENV)/.installed

run: env
	$(PY) -m pipeline run --output $(OUTPUT) $(ARGS)

test: env
	$(PY) -m pytest tests -q -rfEs -p no:warnings -p tests.ci_no_skip

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

bench-pipeline: env
	$(PY) -m benchmarks.bench_pipeline

clean:
	rm -rf $(VENV) build *.egg-info

# The serving fuzz tier for longer than `make test` runs it (random seeds,
# FUZZ_EXAMPLES examples per target; each crash found becomes a regression test).
.PHONY: fuzz
fuzz: env
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_RANDOM=1 $(PY) -m pytest tests/serving/test_fuzz.py -q -p no:warnings

# Each further subsystem (a scheduler, a second stack, ...) keeps its targets
# in its own file under make/; they may use VENV, PY and OUTPUT from here.
include $(wildcard make/*.mk)
