"""One round of `pipeline loop --dataset taxi` on real trips, end to end.

500 trips from each of 2013's first two quarters (the tfx package's taxi
CSV). Round 0 trains on the first quarter and serves it; round 1 sends the
second quarter through the real server with the bulk client, monitors it,
feeds its real labels back and retrains on the window. The served model of
round 1 is the first model, so its live AUC must equal the first model's
AUC scored in process on the same rows, and both must equal scikit-learn's
on the scores the bulk client wrote. The gate is off (--min-auc 0): what is
tested is the loop, not how good 400 training trips make a model.
"""

import json
import pathlib
import subprocess
import sys

import pandas as pd
import pytest
from sklearn import metrics as sk_metrics

from components import dataset_spec

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
PER_QUARTER = 500


@pytest.fixture(scope='module')
def looped(tmp_path_factory):
  spec = dataset_spec.load('taxi')
  work = tmp_path_factory.mktemp('period_loop')
  trips = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  quarter = pd.to_datetime(trips['trip_start_timestamp'].astype(int),
                           unit='s').dt.to_period('Q').astype(str)
  csv = work / 'trips.csv'
  pd.concat([trips[quarter == q].head(PER_QUARTER)
             for q in ('2013Q1', '2013Q2')]).to_csv(csv, index=False)
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'loop', '--dataset', 'taxi',
       '--data', str(csv), '--output', str(work / 'output'), '--window', '1',
       '--min-span-rows', '400', '--rounds', '1', '--train-steps', '100',
       '--min-auc', '0', '--json'], cwd=REPO, capture_output=True, text=True,
      timeout=3600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return spec, work, json.loads(proc.stdout), proc.stderr


def test_round_zero_trains_on_the_first_quarter(looped):
  _, work, result, stderr = looped
  assert result['first_training'] == ['2013Q1']
  assert [r['period'] for r in result['rounds']] == ['2013Q2']
  assert 'round 0: train on 2013Q1' in stderr
  record = json.loads((work / 'output' / 'input' / 'periods.json'
                       ).read_text())
  assert [r['label'] for r in record] == ['2013Q1']


def test_round_one_serves_monitors_and_feeds_back_the_next_quarter(looped):
  spec, work, result, _ = looped
  [row] = result['rounds']
  assert row['rows'] == PER_QUARTER and row['served'] == result[
      'first_version']
  assert row['verdict'] == 'no canary'      # nothing to compare yet
  # Every feature was judged; the largest distances name real features.
  keys = {f.key for f in spec.features}
  assert row['largest_distances'] and all(
      d['feature'] in keys and d['distance'] >= 0
      for d in row['largest_distances'])
  assert set(a.split(' (')[0] for a in row['alerts']) <= keys
  # The live AUC, three ways: feedback's, the first model's in process
  # (the same model), scikit-learn's on the scores the client wrote.
  scores = pd.read_csv(work / 'output' / 'loop' / 'round-1' / 'scores.csv',
                       dtype={spec.join_key: str})
  traffic = pd.read_csv(work / 'output' / 'loop' / 'round-1' /
                        'traffic.csv', dtype=str, keep_default_na=False)
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  keys_of = spec_frame.row_keys(traffic, spec).astype(str)
  by_key = dict(zip(scores[spec.join_key], scores[spec.output_key]))
  expected = sk_metrics.roc_auc_score(
      traffic['big_tipper'].astype(int), [by_key[k] for k in keys_of])
  assert row['live_auc'] == pytest.approx(expected, abs=1e-6)
  assert row['first_model_auc'] == pytest.approx(expected, abs=1e-4)
  span = pd.read_csv(work / 'output' / 'input' /
                     f"span-{row['feedback_span']}" / 'rows.csv')
  assert len(span) == PER_QUARTER


def test_the_retrained_model_becomes_the_canary_when_pushed(looped):
  _, work, result, _ = looped
  [row] = result['rounds']
  retrained = row['retrained']
  assert retrained['window_spans'] == [row['feedback_span']]
  config = (work / 'output' / 'loop' / 'models.config').read_text()
  if retrained['version']:
    assert f"value: {retrained['version']}" in config and 'canary' in config
  else:
    assert retrained['blessed'] is False and 'canary' not in config


def test_span_by_again_finds_nothing_new_and_runs_nothing(looped):
  from tests.conftest import cli_in_process  # pylint: disable=g-import-not-at-top
  _, work, _, _ = looped
  before = sorted(p.name for p in (work / 'output' / 'input').iterdir())
  proc = cli_in_process(
      'run', '--dataset', 'taxi', '--data', str(work / 'trips.csv'),
      '--output', str(work / 'output'), '--span-by', 'quarter', '--until',
      '2013Q1', '--min-span-rows', '400', '--json')
  assert proc.returncode == 0, proc.stderr
  assert 'nothing new (the last period ingested: 2013Q1)' in proc.stderr
  assert json.loads(proc.stdout)['periods']['ingested'] == []
  assert sorted(p.name for p in (work / 'output' / 'input').iterdir()
                ) == before
