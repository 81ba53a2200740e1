"""`runs` and `compare` on a copy of the e2e output plus a drifted run."""

import contextlib
import io
import json
import math
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

# Left alone by the bad data (conftest.write_bad_export).
UNCHANGED = ['company_response', 'submitted_via']


def _main(*argv):
  """The CLI in-process: TensorFlow is imported once, not per call."""
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.main(list(argv))
  assert code == 0, err.getvalue()[-3000:]
  return out.getvalue()


@pytest.fixture(scope='module')
def drifted(gate_stopped):
  """A copy of the e2e output plus a run whose Product mix drifted.

  Half the products become 'Crypto asset' (not in the schema), so the data
  gate stops the run after StatisticsGen: it has statistics but no model.
  """
  assert gate_stopped.returncode == 3, gate_stopped.stderr[-3000:]
  return gate_stopped


def test_runs_lists_the_complete_and_the_stopped_run(e2e_run, drifted):
  from pipeline.reports import runs_text  # pylint: disable=g-import-not-at-top
  listed = json.loads(_main('runs', '--output', str(drifted.output), '--json'))
  first, last = listed[0], listed[-1]
  assert first['run_id'] == e2e_run.summary['run_id']
  assert first['status'] == 'complete'
  assert first['data']['span'] == e2e_run.summary['span']
  assert first['data']['rows_per_split'] == e2e_run.summary['rows_per_split']
  assert first['evaluation']['metrics']['Overall']['auc'] == pytest.approx(
      e2e_run.summary['metrics']['Overall']['auc'])
  assert first['blessed'] is True
  assert first['pushed_version'] == e2e_run.summary['push']['version']
  assert last['run_id'] == drifted.summary['run_id']
  assert last['status'] == 'stopped by data gate'
  assert last['data']['span'] == drifted.summary['span']
  assert last['data']['rows_per_split'] == drifted.summary['rows_per_split']
  assert last['pushed_version'] is None and 'evaluation' not in last
  with open(drifted.summary['report'], encoding='utf-8') as f:
    report = f.read()  # a stopped run gets its report too
  assert 'stopped by data gate' in report and 'Crypto asset' in report
  text = runs_text.render_runs(listed)  # what `runs` prints without --json
  assert 'stopped by data gate' in text and e2e_run.summary['run_id'] in text


def test_compare_reports_product_drift_against_the_stopped_run(drifted):
  from pipeline.reports import runs_text  # pylint: disable=g-import-not-at-top
  result = json.loads(_main('compare', '1', 'latest', '--output',
                            str(drifted.output), '--json'))
  features = {f['feature']: f for f in result['drift']['features']}
  threshold = result['drift']['threshold']
  # Half the rows moved to a new product: the L-infinity distance is ~0.5.
  assert features['product']['measure'] == 'L-infinity'
  assert features['product']['distance'] > 0.4 > threshold
  assert features['product']['drifted'] is True
  assert features['product']['within_noise'] is False  # not a sampling fluke
  for name in UNCHANGED:  # only sampling noise between two seeds
    assert features[name]['distance'] < threshold, name
    assert features[name]['drifted'] is False
  assert result['b']['status'] == 'stopped by data gate'
  # B trained nothing: its hyperparameters and metrics are empty, A's are set.
  auc = [m for m in result['metrics']
         if m['slice'] == 'Overall' and m['metric'] == 'auc'][0]
  assert auc['a'] is not None and auc['b'] is None and auc['delta'] is None
  [line] = [x for x in runs_text.render_compare(result).splitlines()
            if 'DRIFTED: ' in x]  # the bad data moves tags too
  drifted = line.split('DRIFTED: ')[1].split(' (')[0].split(', ')
  assert 'product' in drifted and not set(UNCHANGED) & set(drifted), line


def test_compare_a_run_with_itself_has_no_drift(drifted):
  from pipeline.metadata import runs  # pylint: disable=g-import-not-at-top
  result = runs.compare(str(drifted.output / 'metadata.sqlite'), '1', '1')
  assert result['drift']['same_data'] is True
  # Each all() below is over a list that must not be empty: an empty one
  # (nothing compared) would pass them all.
  compared = {f['feature'] for f in result['drift']['features']}
  assert {'product', *UNCHANGED} <= compared, compared
  assert all(f['distance'] == pytest.approx(0.0, abs=1e-9)
             for f in result['drift']['features'])
  assert result['trained'] == {'a': True, 'b': True}
  assert {'train_steps', 'code_fingerprint'} <= {
      h['name'] for h in result['hyperparameters']}
  assert all(h['same'] for h in result['hyperparameters'])
  # Run 1 is complete: both sides have every metric, so every delta is a
  # number (0, or NaN for a NaN metric), never None.
  assert ('Overall', 'auc') in {(m['slice'], m['metric'])
                                for m in result['metrics']}
  assert all(m['delta'] is not None and (m['delta'] == 0.0 or
                                         math.isnan(m['delta']))
             for m in result['metrics']), result['metrics']


def test_unknown_run_exits_2(drifted):
  """As a user runs it; the run ids are checked before anything is loaded."""
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'compare', '1', '99', '--output',
       str(drifted.output)], cwd=REPO, capture_output=True, text=True,
      timeout=600)
  assert proc.returncode == 2
  assert 'no single run matches' in proc.stderr
  assert 'Traceback' not in proc.stderr
