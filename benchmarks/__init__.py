"""Benchmarks of the project (run with `python -m benchmarks.<name>`)."""
