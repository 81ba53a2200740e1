"""A second and a third run judged against the model in production.

On a copy of the e2e output (whose model is blessed and pushed): a new span
drawn from the same distribution, trained on a rolling window of two spans,
must be judged against that model on the same eval rows and pushed (not
significantly worse); a model trained for a
few steps only, above a lowered gate, must be held back because it is
significantly worse than the baseline. Both say why, in the summary, the
report and the lineage.
"""

import json

import pytest

from tests.conftest import E2E_ROWS, cli_in_process, copy_output, run_pipeline

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def production(e2e_run, tmp_path_factory):
  work = tmp_path_factory.mktemp('judged')
  output = copy_output(e2e_run.output, work)
  from data import generate  # pylint: disable=g-import-not-at-top
  new_span = generate.ensure_generated(E2E_ROWS, 43, str(work), span=1)
  return output, new_span.export_csv


@pytest.fixture(scope='module')
def retrained(production):
  output, data = production
  run = run_pipeline(output, '--data', data, '--window', '2')
  assert run.returncode == 0, run.stderr[-3000:]
  return run


def _lineage(output, version):
  proc = cli_in_process('lineage', '--output', output, '--version',
                        version, '--json')
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout)


def test_a_new_span_is_judged_against_production_and_pushed(e2e_run,
                                                            retrained):
  first = e2e_run.summary['push']['version']
  judgement = retrained.summary['judgement']
  # A new span (the copied output may hold other spans of earlier tests).
  assert retrained.summary['span'] > e2e_run.summary['span']
  assert judgement['blessed'] is True and retrained.summary['blessed']
  assert not judgement['significantly_worse']
  low, high = judgement['diff_ci95']
  assert low < judgement['diff'] < high
  assert 'not significantly worse' in judgement['reason']
  push = retrained.summary['push']
  assert push['pushed'] and push['version'] != first
  trail = _lineage(retrained.output, push['version'])
  assert trail['evaluation']['baseline']['pushed_version'] == first
  assert trail['evaluation']['judgement']['baseline_auc'] == pytest.approx(
      judgement['baseline_auc'])
  with open(retrained.summary['report'], encoding='utf-8') as f:
    page = f.read()
  assert 'The judge' in page and 'not significantly worse' in page


def test_the_rolling_window_trains_on_the_latest_two_spans(e2e_run,
                                                           retrained):
  spans = retrained.summary['window_spans']
  new = retrained.summary['span']
  # The new span and the latest one ingested before it (the production
  # model's), read by Transform and recorded in ML Metadata.
  assert len(spans) == 2 and spans[-1] == new
  assert e2e_run.summary['span'] <= spans[0] < new
  trail = _lineage(retrained.output, retrained.summary['push']['version'])
  assert [data['span'] for data in trail['window']] == spans
  for data in trail['window']:
    [file] = data['files']
    assert file['path'].endswith(f'input/span-{data["span"]}/complaints.csv')
  assert trail['data']['span'] == new


def test_a_significantly_worse_model_is_held_back(production, retrained):
  before = retrained.summary['push']['version']
  _, data = production  # the same span: only the training changes
  worse = run_pipeline(retrained.output, '--data', data, '--train-steps', '3',
                       '--min-auc', '0.3')
  assert worse.summary['span'] == retrained.summary['span']
  assert worse.returncode == 0, worse.stderr[-3000:]
  judgement = worse.summary['judgement']
  assert judgement['gate_passed'] is True          # the gate alone passes
  assert judgement['significantly_worse'] is True  # the baseline beats it
  assert judgement['diff_upper_bound'] < 0
  assert worse.summary['blessed'] is False
  assert not (worse.summary.get('push') or {}).get('pushed')
  versions = sorted(p.name for p in (worse.output / 'serving' /
                                     'complaints').iterdir())
  assert versions[-1] == before  # production is still the last blessed one
  assert 'significantly worse' in judgement['reason']
