# Serving: where a request's time goes, stage by stage, on the pipeline's
# model (benchmarks/results/serving_profile.json); `make bench-serving`
# (in the Makefile) measures the servers under load.
.PHONY: bench-serving-profile
bench-serving-profile: env
	$(PY) -m benchmarks.profile_serving
