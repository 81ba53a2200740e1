"""`pipeline run --span-by quarter` on real taxi trips, end to end.

900 trips of the tfx package's taxi CSV, 300 from each of 2013's first
three quarters. With a window of 2 the first quarter can never be in the
window: it is not ingested, and the other two are, one pipeline run each,
oldest first, so the second run trains on both spans. The same command
again finds nothing new and runs nothing; `--until` leaves later periods
out. Small on purpose: two runs of 300 rows.
"""

import json
import pathlib
import subprocess
import sys

import pandas as pd
import pytest

from components import dataset_spec
from tests.conftest import cli_in_process

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
PER_QUARTER = 300


def _quarters_csv(path):
  spec = dataset_spec.load('taxi')
  trips = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  quarter = pd.to_datetime(trips['trip_start_timestamp'].astype(int),
                           unit='s').dt.to_period('Q').astype(str)
  picked = pd.concat([trips[quarter == q].head(PER_QUARTER)
                      for q in ('2013Q1', '2013Q2', '2013Q3')])
  picked.sample(frac=1.0, random_state=1).to_csv(path, index=False)


def _run(output, csv, *extra):
  return subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--dataset', 'taxi', '--data',
       str(csv), '--output', str(output), '--span-by', 'quarter', '--window',
       '2', '--min-span-rows', '250', '--no-tune', '--train-steps', '100',
       '--json', *extra], cwd=REPO, capture_output=True, text=True,
      timeout=1800)


@pytest.fixture(scope='module')
def replayed(tmp_path_factory):
  work = tmp_path_factory.mktemp('span_by')
  csv = work / 'trips.csv'
  _quarters_csv(csv)
  proc = _run(work / 'output', csv)
  assert proc.returncode == 0, proc.stderr[-3000:]
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  return work, csv, summary_text.parse_json_summary(proc.stdout), proc.stderr


def test_the_periods_that_fit_the_window_are_ingested_in_time_order(
    replayed):
  work, _, summary, stderr = replayed
  periods = summary['periods']
  assert periods['periods'] == ['2013Q1', '2013Q2', '2013Q3']
  assert periods['not_ingested_older_than_window'] == ['2013Q1']
  assert [(p['label'], p['span'], p['rows'], p['exit_code'])
          for p in periods['ingested']] == [('2013Q2', 1, PER_QUARTER, 0),
                                            ('2013Q3', 2, PER_QUARTER, 0)]
  assert '2013Q1 are older than the window of 2: not ingested' in stderr
  # The last run trained on both quarters' spans, and judged on the newest.
  assert summary['span'] == 2 and summary['window_spans'] == [1, 2]
  record = json.loads((work / 'output' / 'input' / 'periods.json'
                       ).read_text())
  assert [r['label'] for r in record] == ['2013Q2', '2013Q3']
  quarter_3 = pd.read_csv(work / 'output' / 'input' / 'span-2' / 'rows.csv')
  assert len(quarter_3) == PER_QUARTER


def test_the_same_command_again_runs_nothing(replayed):
  work, csv, _, _ = replayed
  before = sorted(p.name for p in (work / 'output' / 'input').iterdir())
  proc = cli_in_process(
      'run', '--dataset', 'taxi', '--data', str(csv), '--output',
      str(work / 'output'), '--span-by', 'quarter', '--window', '2',
      '--min-span-rows', '250', '--json')
  assert proc.returncode == 0, proc.stderr
  assert 'nothing new (the latest span holds 2013Q3)' in proc.stderr
  assert json.loads(proc.stdout)['periods']['ingested'] == []
  assert sorted(p.name for p in (work / 'output' / 'input').iterdir()
                ) == before


def test_bad_period_options_are_one_line(replayed, tmp_path):
  _, csv, _, _ = replayed
  for args, message in [
      (('--until', '2013Q2'), '--until needs --span-by'),
      (('--span-by', 'quarter', '--until', 'spring'),
       "--until 'spring' is not a quarter"),
      (('--dataset', 'penguins', '--span-by', 'month'),
       'declares no timestamp column')]:
    argv = ['run', '--output', str(tmp_path / 'out'), *args]
    if '--dataset' not in args:
      argv += ['--dataset', 'taxi', '--data', str(csv)]
    proc = cli_in_process(*argv)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
