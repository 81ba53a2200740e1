"""`pipeline monitor` on traffic whose drift is known (data/scenarios.py).

The traffic goes through the real model server, with request logging, and
the project's bulk client. Clean traffic from the training distribution
must raise no alert, in a window of 1,000 requests; each scenario must alert
on the features it moves (the scenarios' stated changes) and on no other.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_in_process, copy_output
from tests.pipeline.monitoring import helpers

pytestmark = pytest.mark.e2e

WINDOW = 1000
# What each scenario moves among the features the monitor compares (from
# the stated changes in data/scenarios.py, not from the monitor).
MOVED = {
    'channel_shift': {'submitted_via'},
    'new_response': {'company_response'},
    'narrative_wording': {'narrative_length'},
    'product_channel_shift': {'product', 'submitted_via'},
}
# What may move with a scenario's stated change: the generator draws the
# issue, sub-product and company given the product (data/generate.py), so
# a product shift drags them along by an amount the window may or may not
# show; nothing outside these may alert.
MAY_MOVE = {
    'product_channel_shift': {'issue', 'sub_issue', 'sub_product',
                              'company'},
}


@pytest.fixture
def output(e2e_run, tmp_path):
  """A copy of the e2e output per test (10 MB): monitor records each window
  there and checks the next for drift against it, so tests sharing one
  copy would judge each other's traffic (a clean window after the
  new_response one alerted on company_response's drift)."""
  return copy_output(e2e_run.output, tmp_path / 'monitored')


@pytest.fixture(scope='module')
def served(e2e_run):
  version = e2e_run.summary['push']['version']
  return (e2e_run.serving_dir / e2e_run.model_name / version, int(version))


def _monitor(output, logs, *extra, in_process=True):
  """`pipeline monitor`; in-process unless a test needs a real exit."""
  args = ['monitor', '--output', str(output), '--logs', str(logs), '--json',
          *extra]
  if in_process:
    proc = cli_in_process(*args)
  else:
    proc = subprocess.run([sys.executable, '-m', 'pipeline', *args],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=600)
  result = json.loads(proc.stdout) if proc.stdout.strip().startswith('{') \
      else None
  return proc, result


def _window(tmp_path, served, name, rows):
  """Logs written directly (the readers' tests: damage, unknown versions)."""
  model_dir, version = served
  folder = tmp_path / name
  folder.mkdir()
  helpers.write_prediction_logs(model_dir, version, rows,
                                folder / 'prediction_log-0')
  return folder


def _served_window(e2e_run, tmp_path, scenario, seed):
  """Logs of a window of traffic sent through the server and the client."""
  return helpers.serve_and_send(
      e2e_run.serving_dir, helpers.export_rows(WINDOW, seed,
                                               scenario=scenario),
      tmp_path / (scenario or 'clean'))


def _alerted(result):
  return {row['feature'] for row in result['features'] if row['alert']}


def test_clean_traffic_raises_no_alert(e2e_run, served, output, tmp_path):
  logs = _served_window(e2e_run, tmp_path, None, 101)
  proc, result = _monitor(output, logs)
  assert proc.returncode == 0, (proc.stderr[-2000:], result and _alerted(
      result))
  assert result['requests'] == WINDOW and not result['alert']
  # The join key travelled with every request into the log.
  from pipeline.monitoring import prediction_logs, served_data  # pylint: disable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  rows = served_data.to_rows(prediction_logs.read(str(logs)).logs, None,
                             dataset_spec.load('cfpb')).rows
  assert len({row['complaint_id'] for row in rows}) == WINDOW
  judged = {row['feature'] for row in result['features']
            if row['check'] == 'skew'}
  assert {'product', 'submitted_via', 'state', 'company_response',
          'narrative_length', 'predicted_probability'} <= judged
  assert result['versions'][0]['model_version'] == str(served[1])
  with open(result['report'], encoding='utf-8') as f:
    assert 'healthy' in f.read()


@pytest.mark.parametrize('scenario', sorted(MOVED))
def test_each_drift_alerts_on_what_it_moved(e2e_run, served, output,
                                            tmp_path,
                                            scenario):
  logs = _served_window(e2e_run, tmp_path, scenario, 202)
  proc, result = _monitor(output, logs)
  assert proc.returncode == 4, proc.stderr[-2000:]
  skewed = {row['feature'] for row in result['features']
            if row['alert'] and row['check'] in ('skew', 'schema')}
  assert MOVED[scenario] <= skewed, result['features']
  # Nothing else among the inputs (the prediction may move with them).
  assert skewed - MOVED[scenario] - MAY_MOVE.get(scenario, set()) - {
      'predicted_probability'} == set(), (scenario, skewed)
  with open(result['report'], encoding='utf-8') as f:
    page = f.read()
  assert 'ALERT' in page and page.count('<svg') >= 1


def test_damage_is_counted_and_bad_input_is_exit_2(served, output, tmp_path):
  logs = _window(tmp_path, served, 'damaged', helpers.raw_rows(300, 303))
  path = logs / 'prediction_log-0'
  path.write_bytes(path.read_bytes()[:-7])  # a crash mid-record
  proc, result = _monitor(output, logs)
  assert proc.returncode in (0, 4), proc.stderr[-2000:]
  assert result['damaged_files'] == [str(path)]
  assert result['requests'] == 300 - 50  # the last batch was cut off
  for args, message, in_process in [  # one as a user runs it: exit code
      ((tmp_path / 'no-logs-here',), 'no request log files', False),
      ((logs, '--noise-z', '-1'), '--noise-z must be 0 or more', True)]:
    proc, _ = _monitor(output, *args, in_process=in_process)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
  unknown = _window(tmp_path, (served[0], 12345), 'unknown',
                    helpers.raw_rows(50, 304))
  proc, _ = _monitor(output, unknown)
  assert proc.returncode == 2 and 'model version 12345' in proc.stderr
