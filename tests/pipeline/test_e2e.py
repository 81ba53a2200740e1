"""The real pipeline end to end: blessed and pushed, cached rerun, bad data
stopped (each kind of anomaly the curated schema raises)."""

import os

import pytest

from tests.conftest import E2E_ROWS

pytestmark = pytest.mark.e2e


def _versions(serving_dir):
  model_dir = serving_dir / 'complaints'
  return sorted(os.listdir(model_dir)) if model_dir.exists() else []


def test_first_run_blesses_and_pushes_a_loadable_model(e2e_run):
  summary = e2e_run.summary
  assert summary['blessed'] is True
  assert summary['anomalies'] == {}
  rows = summary['rows_per_split']
  assert set(rows) == {'train', 'eval'}
  assert sum(rows.values()) == E2E_ROWS
  assert 0.15 < rows['eval'] / E2E_ROWS < 0.25  # 4:1 hash split
  assert summary['metrics']['Overall']['auc'] >= 0.65
  assert summary['push']['pushed'] is True
  versions = _versions(e2e_run.serving_dir)
  assert versions == [summary['push']['version']]
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import signatures  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(str(e2e_run.serving_dir / 'complaints' /
                                  versions[0]))
  complaint = dict(signatures.WARMUP_COMPLAINT)
  by_example = model.signatures['serving_default'](examples=tf.constant(
      [signatures.example_from_fields(complaint).SerializeToString()]))
  from components import features  # pylint: disable=g-import-not-at-top
  by_raw = model.signatures['predict_raw'](**{
      key: tf.constant([complaint.get(key, '')])
      for key in features.RAW_FEATURES})
  p_example = float(by_example[signatures.OUTPUT_KEY].numpy().ravel()[0])
  p_raw = float(by_raw[signatures.OUTPUT_KEY].numpy().ravel()[0])
  assert 0.0 < p_example < 1.0
  assert p_example == pytest.approx(p_raw, abs=1e-6)


def test_rerun_with_unchanged_inputs_is_fully_cached(e2e_run):
  rerun = e2e_run.rerun  # the same command into the same output
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  states = {c['component']: c['state'] for c in rerun.summary['components']}
  # The Resolver looks up the blessed baseline anew in every run: it is
  # never cached, by design (TFX's resolver nodes run each time).
  assert states.pop('Resolver') == 'COMPLETE'
  assert set(states) >= {'CsvExampleGen', 'Transform', 'Trainer',
                         'Evaluator', 'Pusher'}
  assert set(states.values()) == {'CACHED'}, states
  assert rerun.summary['span'] == e2e_run.summary['span']
  assert _versions(e2e_run.serving_dir) == [e2e_run.summary['push']['version']]


def test_bad_data_stops_before_training_and_pushes_nothing(e2e_run,
                                                            gate_stopped):
  result = gate_stopped  # a copy of the e2e output, then the bad data
  assert result.returncode == 3, result.stderr[-3000:]
  error = result.stderr.split('error:')[-1]
  assert 'Traceback' not in error
  ran = {c['component'] for c in result.summary['components']}
  assert 'Trainer' not in ran and 'Transform' not in ran
  assert _versions(result.serving_dir) == _versions(e2e_run.serving_dir)
  # One anomaly of each kind, named with its feature (conftest's
  # write_bad_export); 2% unknown states are within the schema's tolerance.
  lines = [line for split in result.summary['anomalies'].values()
           for line in split]  # 'feature: reason' per split
  named = {line.split(':')[0] for line in lines}
  assert named == {'product', 'timely_response', 'tags'}, lines
  for feature in named:
    assert feature in error, (feature, error)
  assert any(line.startswith('product:') and 'Crypto asset' in line
             for line in lines), lines
  assert any(line.startswith('tags:') and 'Veteran' in line
             for line in lines), lines


def test_run_is_quiet_and_keeps_the_full_log(e2e_run):
  """One line per component on the terminal; the libraries' output on disk."""
  lines = [line for line in e2e_run.stderr.splitlines() if line.strip()]
  assert len(lines) < 40, e2e_run.stderr[-3000:]
  for component in ('CsvExampleGen', 'StatisticsGen', 'Transform', 'Trainer',
                    'Evaluator', 'Pusher'):
    assert any(line.split()[:2] == [component, 'complete'] for line in lines), (
        component, lines)
  assert not any('Traceback' in line or 'cuda' in line.lower()
                 for line in lines), lines
  log = e2e_run.summary['log']
  assert log.startswith(str(e2e_run.output / 'logs' / 'run-'))
  with open(log, encoding='utf-8', errors='replace') as f:
    text = f.read()
  assert 'Component Trainer is running' in text  # TFX's own INFO log
  assert f'log: {log}' in e2e_run.stderr
