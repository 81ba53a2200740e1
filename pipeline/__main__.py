"""Entry point: `python -m pipeline run ...`."""
import sys

from pipeline import runner

sys.exit(runner.main())
