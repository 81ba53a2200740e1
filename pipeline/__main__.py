"""Entry point: `python -m pipeline run ...` (see pipeline/cli.py)."""
import sys

from pipeline import cli

sys.exit(cli.main())
