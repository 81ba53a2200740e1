# MLflow and DVC beside the pipeline (docs/mlflow-and-dvc.md). Both live in
# their own venv, pinned by their own constraints file, as Airflow does:
# MLflow 3 needs protobuf >= 4 at run time and SQLAlchemy 2, DVC brings ~70
# packages of its own, and neither belongs in a TFX interpreter (protobuf
# 3.20.3 on the tfx116 stack). The pipeline talks to an MLflow server over
# its REST API (plain HTTP) and runs this venv's `dvc` as a subprocess.
#   make mlflow-env      the venv only (what the tests and .ci/run need)
#   make mlflow-server   a tracking server on 127.0.0.1:$(MLFLOW_PORT), SQLite
#                        and artifacts under $(MLFLOW_HOME); Ctrl-C stops it
MLFLOW_VENV := .venv-mlflow
MLFLOW_REQUIREMENTS := mlflow==3.17.2 dvc==3.67.1
MLFLOW_CONSTRAINTS := stacks/mlflow-dvc/constraints.txt
MLFLOW_HOME ?= $(abspath runs/mlflow)
MLFLOW_PORT ?= 5000
# Debian 12's python3.11 (the one Airflow uses, .ci/run installs it), else
# Debian 13's python3.13 (no 3.11 there; the same pins resolve), else a
# pyenv 3.11.
MLFLOW_PYTHON ?= $(shell for p in /usr/bin/python3.11 /usr/bin/python3.13; do \
	if $$p -c 'import ensurepip' >/dev/null 2>&1; then echo $$p; exit; fi; done; \
	ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11*/bin/python3.11 2>/dev/null | tail -n 1)

.PHONY: mlflow-env mlflow-server

$(MLFLOW_VENV)/.installed: $(MLFLOW_CONSTRAINTS)
	@test -n "$(MLFLOW_PYTHON)" || { echo "Python 3.11 (or 3.13) with venv is required: apt-get install python3.11 python3.11-venv"; exit 1; }
	test -x $(MLFLOW_VENV)/bin/python || $(MLFLOW_PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q -c $(MLFLOW_CONSTRAINTS) $(MLFLOW_REQUIREMENTS)
	touch $@

mlflow-env: $(MLFLOW_VENV)/.installed

mlflow-server: mlflow-env
	mkdir -p $(MLFLOW_HOME)
	$(MLFLOW_VENV)/bin/mlflow server --host 127.0.0.1 --port $(MLFLOW_PORT) \
	  --backend-store-uri sqlite:///$(MLFLOW_HOME)/mlflow.db \
	  --artifacts-destination $(MLFLOW_HOME)/artifacts
