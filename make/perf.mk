# Performance and scaling benchmarks (issue 14); results under benchmarks/results/.
.PHONY: bench-export bench-scaling bench-tuner bench-training

# Converts a generated export of at least 2 GB (temporary, deleted after):
# time and peak RSS -> benchmarks/results/export.json. EXPORT_GB to change.
bench-export: env
	$(PY) -m benchmarks.bench_export --gb $${EXPORT_GB:-2}

# The pipeline at 15k, 50k, 150k and 500k generated rows with the defaults
# (Beam in-process up to 75,000 rows, multi-processing above), then 15k and
# 50k with --beam-workers 2 (multi-processing) against them: per-component
# times, fixed + per-row cost fits -> benchmarks/results/scaling.json.
# SCALING_SIZES / SCALING_WORKER_SIZES to change (each size merges into the file).
bench-scaling: env
	$(PY) -m benchmarks.bench_scaling --sizes $${SCALING_SIZES:-15000 50000 150000 500000}
	$(PY) -m benchmarks.bench_scaling --sizes $${SCALING_WORKER_SIZES:-15000 50000} --beam-workers-modes 2

# The Tuner's successive halving against full-length trials: every candidate
# of the search space trained both ways on one run's Transform output ->
# benchmarks/results/tuner.json. TUNER_SIZES to change.
bench-tuner: env
	$(PY) -m benchmarks.bench_tuner --sizes $${TUNER_SIZES:-15000}

# The Trainer's recipe step by step (fixed 1,000 steps, decayed, steps by
# size, the categorical prior) at 15k and 500k rows, AUC gap to the best
# achievable -> benchmarks/results/training.json. TRAINING_SIZES to change.
bench-training: env
	$(PY) -m benchmarks.bench_training --sizes $${TRAINING_SIZES:-15000 500000}
