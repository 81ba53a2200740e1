"""Attribution drift in `pipeline monitor`, on traffic whose change is known.

The traffic goes the way production traffic goes (the real model server
with request logging, the bulk client: helpers.serve_and_send) to the
model the shared e2e run pushed; the monitor explains the logged requests
with that model's own `explain` signature and compares each feature's mean
|attribution| with the eval split's, as its ModelAnalysis recorded it.

What must happen follows from the scenarios' design (data/scenarios.py)
and the model's: the wide model's attribution of a feature depends on that
feature's value alone, so it moves only where a feature's values move.
- clean traffic (the training distribution): no attribution alert;
- `concept_drift` changes the label model only, the fields are drawn as
  without it: no attribution can move, so none alerts (the labels must
  catch it, not the monitor);
- `narrative_wording` rewrites the dispute phrases the model learned into
  words it never saw and makes narratives 1.5 times longer, nothing else:
  the narrative's attribution alerts, and no other feature's.
"""

import json

import numpy as np
import pytest

from components import features
from tests.conftest import cli_in_process, copy_output
from tests.pipeline.monitoring import helpers

pytestmark = pytest.mark.e2e

WINDOW = 1000
CHECK = 'attribution'


@pytest.fixture
def output(e2e_run, tmp_path):
  """A copy of the e2e output per test: monitor records its window there."""
  return copy_output(e2e_run.output, tmp_path / 'monitored')


def _send_and_monitor(e2e_run, output, tmp_path, scenario, seed):
  """(monitor's exit, its JSON, the export sent) of one served window."""
  export = helpers.export_rows(WINDOW, seed, scenario=scenario)
  logs = helpers.serve_and_send(e2e_run.serving_dir, export,
                                tmp_path / (scenario or 'clean'))
  proc = cli_in_process('monitor', '--output', str(output), '--logs',
                        str(logs), '--json')
  assert proc.stdout.strip().startswith('{'), proc.stderr[-2000:]
  return proc.returncode, json.loads(proc.stdout), export


def _attribution_rows(result):
  return [row for row in result['features'] if row['check'] == CHECK]


def _alerted(result):
  return {row['feature'] for row in _attribution_rows(result)
          if row['alert']}


def test_clean_traffic_moves_no_attribution(e2e_run, output, tmp_path):
  code, result, export = _send_and_monitor(e2e_run, output, tmp_path, None,
                                           111)
  assert code in (0, 4), result
  [version] = result['versions']
  assert version['attribution_note'] is None, version['attribution_note']
  # Every raw feature is judged, against the eval split ModelAnalysis read.
  assert {row['feature'] for row in _attribution_rows(result)} == set(
      features.RAW_FEATURES)
  analysis = e2e_run.summary['analysis']['attributions']
  for finding in version['attribution']:
    assert finding['values_training'] == analysis['rows']
    assert finding['values_served'] == WINDOW
  assert _alerted(result) == set(), version['attribution']
  # Independently of the logs: the same model explains the CSV that was
  # sent, read straight from the export; the monitor's served mean
  # |attribution| of every feature is that.
  expected = _mean_abs_of_export(e2e_run, export)
  for finding in version['attribution']:
    assert finding['served_mean_abs'] == pytest.approx(
        expected[finding['feature']], rel=1e-4, abs=1e-6)


def test_concept_drift_moves_no_attribution(e2e_run, output, tmp_path):
  _, result, _ = _send_and_monitor(e2e_run, output, tmp_path,
                                   'concept_drift', 222)
  assert len(_attribution_rows(result)) == len(features.RAW_FEATURES)
  assert _alerted(result) == set(), result['versions'][0]['attribution']


def test_reworded_narratives_move_the_narratives_attribution(
    e2e_run, output, tmp_path):
  code, result, _ = _send_and_monitor(e2e_run, output, tmp_path,
                                      'narrative_wording', 333)
  assert code == 4
  assert _alerted(result) == {features.NARRATIVE}, result['versions'][0][
      'attribution']
  # The report's table names it as the other checks are named.
  with open(result['report'], encoding='utf-8') as f:
    page = f.read()
  assert f'<td>{CHECK}</td>' in page and 'ALERT' in page


def _mean_abs_of_export(e2e_run, export):
  """Mean |attribution| per feature of the export's rows, from the served
  model's explain signature called here on the pipeline's raw columns."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  version = e2e_run.summary['push']['version']
  model = tf.saved_model.load(str(e2e_run.serving_dir / e2e_run.model_name
                                  / version))
  explain = model.signatures['explain']
  frame = cfpb_export.to_pipeline_frame(export, include_label=False)
  inputs = {key: tf.constant(frame[key].astype(str).str.encode(
      'utf-8').tolist()) for key in features.RAW_FEATURES}
  found = explain(**inputs)['attributions'].numpy()
  assert found.shape == (len(export), len(features.RAW_FEATURES))
  means = np.abs(found).mean(axis=0)
  # What the feature axis holds, as written beside the model.
  with open(e2e_run.serving_dir / e2e_run.model_name / version /
            'assets.extra' / 'explain.json', encoding='utf-8') as f:
    order = json.load(f)['features']
  return dict(zip(order, means.tolist()))
