# Serving: where a request's time goes, stage by stage, on the pipeline's
# model (benchmarks/results/serving_profile.json); `make bench-serving`
# (in the Makefile) measures the servers under load, old transport next to
# new, with Debian's wrk and h2load: `apt-get install -y wrk nghttp2-client`
# (the benchmark says so and stops if either is missing).
.PHONY: bench-serving-profile
bench-serving-profile: env
	$(PY) -m benchmarks.profile_serving
