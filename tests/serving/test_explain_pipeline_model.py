"""`:explain` on the binary model the pipeline pushed (tests/conftest.py
e2e_run), served as in production; marked e2e.

Expected values independent of the code under test: the logit from
:predict's probability (log(p / (1 - p))), which the baseline plus the
attributions must make up; the feature names from the header of a real
CFPB export (data/real/), read with `csv`.
"""

import csv
import json
import math
from pathlib import Path

import pytest

from serving import client
from serving import client_inputs

from serving_helpers import call, free_port

REAL_EXPORT = (Path(__file__).resolve().parents[2] / 'data' / 'real' /
               'cfpb_labelled_narratives.csv')
COMPLAINTS = [
    {'Product': 'Mortgage', 'Issue': 'Loan servicing, payments, escrow '
     'account', 'State': 'CA', 'ZIP code': '940XX',
     'Company response to consumer': 'Closed with explanation',
     'Timely response?': 'Yes', 'Submitted via': 'Web',
     'Consumer complaint narrative': 'They charged me a late fee twice.'},
    {'Product': 'Debt collection', 'State': 'TX', 'Timely response?': 'No',
     'Company response to consumer': 'Closed with monetary relief'},
    {},  # every field missing
]


@pytest.fixture(scope='module')
def pushed(e2e_run):
  """(a server of the pushed model, its REST model path), for this file."""
  from serving import model_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top
  server = model_server.ModelServer(server_config.ServerOptions(
      port=free_port(), rest_api_port=free_port(), bind_address='127.0.0.1',
      model_name=e2e_run.model_name, file_system_poll_wait_seconds=0,
      model_base_path=str(Path(e2e_run.serving_dir) / e2e_run.model_name)
  )).start()
  yield server, f'/v1/models/{e2e_run.model_name}'
  server.stop()


def _post(server, path, verb, body):
  return call(server.rest_port, 'POST', f'{path}:{verb}', json.dumps(body))


def test_attributions_make_up_the_logit_of_the_probability(pushed):
  server, path = pushed
  body = {'signature_name': 'predict_raw',
          'instances': [client_inputs.to_features(c) for c in COMPLAINTS]}
  status, predicted = _post(server, path, 'predict', body)
  assert status == 200
  status, explained = _post(server, path, 'explain', body)
  assert status == 200, explained
  assert explained['predictions'] == predicted['predictions']
  assert len(explained['explanations']) == len(COMPLAINTS)
  for (probability,), explanation in zip(predicted['predictions'],
                                         explained['explanations']):
    logit = math.log(probability / (1.0 - probability))
    assert explanation['approximation_error'] == pytest.approx(0, abs=1e-5)
    assert explanation['baseline'] + sum(
        explanation['attributions'].values()) == pytest.approx(
            logit, abs=2e-4)
    assert explanation['logit'] == pytest.approx(logit, abs=2e-4)
  # Two complaints that differ in most fields are explained differently.
  first, second = (e['attributions'] for e in explained['explanations'][:2])
  assert first != second


def test_features_are_the_export_csv_columns(pushed):
  server, path = pushed
  with open(REAL_EXPORT, newline='', encoding='utf-8') as f:
    header = next(csv.reader(f))
  body = {'instances': [client_inputs.to_features(COMPLAINTS[0])]}
  _, explained = _post(server, path, 'explain', body)
  columns = list(explained['explanations'][0]['attributions'])
  assert len(columns) == len(client_inputs.to_features({})) == 12
  assert set(columns) <= set(header)
  assert 'Consumer complaint narrative' in columns and 'ZIP code' in columns


def test_the_client_explains_a_complaint(pushed, capsys):
  server, _ = pushed
  code = client.main(['--port', str(server.rest_port), '--host',
                      '127.0.0.1', '--complaint', json.dumps(COMPLAINTS[0]),
                      '--explain'])
  out = capsys.readouterr().out.splitlines()
  assert code == 0
  result = json.loads(out[-1])
  attributions = result['explanation']['attributions']
  largest = sorted(attributions, key=lambda k: -abs(attributions[k]))[:5]
  assert out[1].strip().startswith('logit ')
  # The five largest, in order, under the equation; the rest in the JSON.
  assert [line.split(None, 1)[1] for line in out[2:7]] == largest
  assert out[7].strip() == '(7 more in the JSON line)'
  probability = result['disputed_probability']
  assert result['explanation']['logit'] == pytest.approx(
      math.log(probability / (1 - probability)), abs=2e-4)
