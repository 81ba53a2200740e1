# Performance and scaling benchmarks (issue 14); results under benchmarks/results/.
.PHONY: bench-export bench-scaling

# Converts a generated export of at least 2 GB (temporary, deleted after):
# time and peak RSS -> benchmarks/results/export.json. EXPORT_GB to change.
bench-export: env
	$(PY) -m benchmarks.bench_export --gb $${EXPORT_GB:-2}

# The pipeline at 15k, 50k, 150k and 500k generated rows, then 15k and 50k
# with --beam-workers 1 (in-process) against the default multi-processing:
# per-component times, fixed + per-row cost fits -> benchmarks/results/scaling.json.
# SCALING_SIZES / SCALING_WORKER_SIZES to change (each size merges into the file).
bench-scaling: env
	$(PY) -m benchmarks.bench_scaling --sizes $${SCALING_SIZES:-15000 50000 150000 500000}
	$(PY) -m benchmarks.bench_scaling --sizes $${SCALING_WORKER_SIZES:-15000 50000} --beam-workers-modes 1
