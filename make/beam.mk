# Beam on several hosts (deploy/beam/): SDK worker pools in network
# namespaces, the pipeline through Beam's portable runner. Needs root.
#   make beam-workers BEAM_WORKERS=2   bring the hosts and pools up
#   make run-portable ARGS="--rows 5000 --no-tune"   the pipeline on them
#   make beam-down                     stop the pools, remove the hosts
BEAM_WORKERS ?= 2
BEAM_PREFIX ?= beam
PORTABLE_OUTPUT ?= runs/portable

.PHONY: beam-workers beam-status beam-down run-portable bench-beam-workers

beam-workers: env
	$(PY) -m deploy.beam up --workers $(BEAM_WORKERS) --prefix $(BEAM_PREFIX)

beam-status: env
	$(PY) -m deploy.beam status --prefix $(BEAM_PREFIX)

beam-down: env
	$(PY) -m deploy.beam down --prefix $(BEAM_PREFIX)

# The pipeline's Beam work on the pools of `make beam-workers`; its own
# output folder, since other Beam arguments mean other cache keys.
run-portable: env
	@flags="$$($(PY) -m deploy.beam args --prefix $(BEAM_PREFIX))" || exit 2; \
	echo $(PY) -m pipeline run --output $(PORTABLE_OUTPUT) $$flags $(ARGS); \
	$(PY) -m pipeline run --output $(PORTABLE_OUTPUT) $$flags $(ARGS)

# Rows/s with 1, 2 and 4 pools next to the DirectRunner, and the equality
# checks -> benchmarks/results/beam_workers.json
bench-beam-workers: env
	$(PY) -m benchmarks.bench_beam_workers
