"""Shared fixtures: one real pipeline run, reused by the pipeline and serving tests."""

import os

# The stack's settings (TF_USE_LEGACY_KERAS=1 for TFX 1.16) must be in place
# before any test module imports TensorFlow: components/__init__ sets them.
import components  # noqa: F401  pylint: disable=unused-import

import dataclasses  # pylint: disable=g-import-not-at-top,wrong-import-position
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
E2E_ROWS = 4000
E2E_ARGS = ['--rows', str(E2E_ROWS), '--no-tune', '--train-steps', '150',
            '--json']


@dataclasses.dataclass
class PipelineRun:
  output: pathlib.Path
  returncode: int
  summary: dict
  stdout: str
  stderr: str
  model_name: str = 'complaints'

  @property
  def serving_dir(self) -> pathlib.Path:
    return self.output / 'serving'


def run_pipeline(output, *extra) -> PipelineRun:
  """Runs `python -m pipeline run` as a user would; parses its JSON summary."""
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--output', str(output),
       *E2E_ARGS, *extra],
      cwd=REPO, capture_output=True, text=True, timeout=1500)
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  summary = summary_text.parse_json_summary(proc.stdout)
  return PipelineRun(pathlib.Path(output), proc.returncode, summary,
                     proc.stdout, proc.stderr)


def write_crypto_export(rows: int, seed: int, folder) -> pathlib.Path:
  """A generated export where every other complaint is about 'Crypto asset'.

  Not a CFPB product of 2015-2017, so the curated schema flags `product` and
  the data gate must stop the run; the product mix also drifts strongly.
  """
  import csv  # pylint: disable=g-import-not-at-top
  from data import generate  # pylint: disable=g-import-not-at-top
  good = generate.ensure_generated(rows, seed, str(folder)).export_csv
  bad = pathlib.Path(folder) / 'crypto.csv'
  with open(good, newline='', encoding='utf-8') as src, open(
      bad, 'w', newline='', encoding='utf-8') as dst:
    records = list(csv.DictReader(src))
    writer = csv.DictWriter(dst, fieldnames=list(records[0]))
    writer.writeheader()
    for i, record in enumerate(records):
      if i % 2:
        record['Product'] = 'Crypto asset'
      writer.writerow(record)
  return bad


@pytest.fixture(scope='session')
def e2e_run(tmp_path_factory) -> PipelineRun:
  run = run_pipeline(tmp_path_factory.mktemp('e2e'))
  assert run.returncode == 0, run.stderr[-3000:]
  return run
