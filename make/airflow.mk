# Airflow: the life cycle on a schedule (orchestration/airflow/README.md).
# Airflow 3 lives in its own venv, pinned by its own constraints file, and
# runs the project's CLI in the project's .venv: the two stacks never share
# an interpreter (TFX 1.16 and Airflow 3 pin different versions of the same
# libraries).
AIRFLOW_VENV := .venv-airflow
AIRFLOW_REQUIREMENTS := apache-airflow==3.3.2 apache-airflow-providers-standard==1.21.0
AIRFLOW_DAGS := $(abspath orchestration/airflow/dags)
AIRFLOW_HOME ?= $(abspath runs/airflow-home)
AIRFLOW_OUTPUT ?= $(abspath runs/airflow)
AIRFLOW_PORT ?= 8080
# Airflow's Python, each with its own frozen constraints file: Debian 12's
# python3.11 (apt: python3.11 python3.11-venv), else Debian 13's python3.13
# (apt: python3-venv; Debian 13 has no 3.11), else a pyenv 3.11.
AIRFLOW_PYTHON ?= $(shell for p in /usr/bin/python3.11 /usr/bin/python3.13; do \
	if $$p -c 'import ensurepip' >/dev/null 2>&1; then echo $$p; exit; fi; done; \
	ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11*/bin/python3.11 2>/dev/null | tail -n 1)
AIRFLOW_PYTHON_VERSION := $(if $(AIRFLOW_PYTHON),$(shell $(AIRFLOW_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
AIRFLOW_CONSTRAINTS := $(if $(filter 3.13,$(AIRFLOW_PYTHON_VERSION)),orchestration/airflow/constraints-py313.txt,orchestration/airflow/constraints.txt)
AIRFLOW_ENV = PATH=$(abspath $(AIRFLOW_VENV))/bin:$$PATH AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(AIRFLOW_DAGS) \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__EXECUTOR=LocalExecutor \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) COMPLAINTS_OUTPUT=$(AIRFLOW_OUTPUT)

.PHONY: airflow airflow-env airflow-dag-test

# One marker per Python: a venv made by the other Python is made again.
AIRFLOW_INSTALLED := $(AIRFLOW_VENV)/.installed-py$(AIRFLOW_PYTHON_VERSION)
$(AIRFLOW_INSTALLED): $(AIRFLOW_CONSTRAINTS)
	@test -n "$(AIRFLOW_PYTHON)" || { echo "Python 3.11 or 3.13 with venv is required: apt-get install python3.11 python3.11-venv"; exit 1; }
	$(AIRFLOW_VENV)/bin/python -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(AIRFLOW_PYTHON_VERSION)")' 2>/dev/null || \
	  $(AIRFLOW_PYTHON) -m venv --clear $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install -q -c $(AIRFLOW_CONSTRAINTS) $(AIRFLOW_REQUIREMENTS)
	touch $@

# The Airflow venv only (what the DAG's test and .ci/run need).
airflow-env: $(AIRFLOW_INSTALLED)

# Airflow up: the API server and UI on :$(AIRFLOW_PORT), scheduler, DAG
# processor and triggerer (`airflow standalone`: SQLite, LocalExecutor), the
# DAG complaints_loop loaded from orchestration/airflow/dags. Ctrl-C stops it.
airflow: env airflow-env
	$(AIRFLOW_ENV) $(AIRFLOW_VENV)/bin/airflow standalone

# One DAG run now, without a scheduler (`airflow dags test`); settings as
# JSON, e.g. CONF='{"run_args": "--rows 5000 --no-tune"}'.
airflow-dag-test: env airflow-env
	$(AIRFLOW_ENV) $(AIRFLOW_VENV)/bin/airflow db migrate >/dev/null
	$(AIRFLOW_ENV) $(AIRFLOW_VENV)/bin/airflow dags test complaints_loop --conf '$(or $(CONF),{})'
