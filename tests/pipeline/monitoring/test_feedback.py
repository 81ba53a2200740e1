"""`pipeline feedback`: labels joined with logged requests, counted exactly."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from components import features
from tests.conftest import REPO, cli_in_process, copy_output
from tests.pipeline.monitoring import helpers

pytestmark = pytest.mark.e2e

LOGGED = 400


@pytest.fixture(scope='module')
def setup(e2e_run, tmp_path_factory):
  """A copy of the e2e output (a new span must not touch the shared one),
  and 400 new complaints sent through the real server (request logging on)
  by the bulk client, whose labels arrive later."""
  work = tmp_path_factory.mktemp('feedback')
  output = copy_output(e2e_run.output, work)
  export = helpers.export_rows(LOGGED, 91, span=4)
  logs = helpers.serve_and_send(e2e_run.serving_dir, export, work / 'served')
  return output, logs, export, e2e_run.summary['push']['version']


def _feedback(output, labels, logs, *extra, in_process=False):
  args = ['feedback', str(labels), '--logs', str(logs), '--output',
          str(output), '--json', *extra]
  if in_process:  # TensorFlow imported once for the error cases
    proc = cli_in_process(*args)
  else:
    proc = subprocess.run([sys.executable, '-m', 'pipeline', *args],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=600)
  return proc, (json.loads(proc.stdout) if proc.returncode == 0 else None)


def _labels(export, rows):
  return export[[features.ID_EXPORT_COLUMN, features.LABEL_EXPORT_COLUMN]
                ].iloc[rows]


def test_join_counts_every_label_and_writes_the_served_features(
    setup, e2e_run, tmp_path):
  output, logs, export, version = setup
  ids = export[features.ID_EXPORT_COLUMN]
  labels = pd.concat([
      _labels(export, slice(0, 300)),
      _labels(export, slice(0, 5)),                    # 5 repeated labels
      pd.DataFrame({features.ID_EXPORT_COLUMN: [ids[300], ids[300], ids[301],
                                                ids[301]],
                    features.LABEL_EXPORT_COLUMN: ['Yes', 'No', 'No',
                                                   'Yes']}),  # 2 conflicting
      pd.DataFrame({features.ID_EXPORT_COLUMN: [str(9000 + i)
                                                for i in range(10)],
                    features.LABEL_EXPORT_COLUMN: ['No'] * 10})])  # unmatched
  path = tmp_path / 'labels.csv'
  labels.to_csv(path, index=False)
  proc, result = _feedback(output, path, logs)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert (result['label_rows'], result['labelled_ids'],
          result['repeated_labels'], result['conflicting_label_ids']) == (
              319, 310, 5, 2)
  assert (result['matched_ids'], result['unmatched_label_ids'],
          result['logged_ids_without_label']) == (300, 10, 100)
  [served] = result['versions']
  assert served['model_version'] == version
  live = served['live']
  assert live['examples'] == 300
  assert live['positives'] == int((export[features.LABEL_EXPORT_COLUMN]
                                  .iloc[:300] == 'Yes').sum())
  low, high = live['auc_ci95']
  assert low < live['auc'] < high and 0.5 < live['auc'] < 1.0
  # The pushed version's figure on its eval split, as the judge blessed it
  # (its exact AUC, which TFMA's bucketed one approximates to about 1e-5).
  assert served['eval']['auc'] == pytest.approx(
      e2e_run.summary['judgement']['candidate_auc'])
  assert served['eval']['auc'] == pytest.approx(
      e2e_run.summary['metrics']['Overall']['auc'], abs=1e-3)
  span = result['span']
  assert span['span'] == e2e_run.summary['span'] + 1 and span['rows'] == 300
  written = pd.read_csv(span['path'], dtype=str, keep_default_na=False)
  served_rows = {r[features.ID_KEY]: r for r in helpers.raw_rows(
      LOGGED, 91, span=4)}
  for row in written.head(20).to_dict('records'):
    assert row[features.NARRATIVE] == served_rows[row[features.ID_KEY]][
        features.NARRATIVE]
  assert set(written[features.LABEL_KEY]) <= {'0', '1'}


@pytest.mark.parametrize('content, message', [
    ('Complaint ID,Consumer disputed?\n1,Maybe\n', 'must be Yes or No'),
    ('id,label\n1,Yes\n', 'lacks the label column'),
    ('Complaint ID,Consumer disputed?\n42,Yes\n', 'matches a request logged'),
])
def test_unusable_labels_are_exit_2_and_write_nothing(setup, tmp_path,
                                                      content, message):
  output, logs, _, _ = setup
  spans = sorted((output / 'input').iterdir())
  path = tmp_path / 'labels.csv'
  path.write_text(content)
  proc, _ = _feedback(output, path, logs, in_process=True)
  assert proc.returncode == 2 and message in proc.stderr, proc.stderr
  assert 'Traceback' not in proc.stderr
  assert sorted((output / 'input').iterdir()) == spans
