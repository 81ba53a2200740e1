"""The model the pipeline pushed, served and queried like production.

Needs the lead's `e2e_run` session fixture (tests/conftest.py) with
`serving_dir` and `model_name`; marked e2e.
"""

import csv
import os
from pathlib import Path

import pytest
import tensorflow as tf

from components import features
from serving import client_grpc
from serving import client_inputs
from serving import client_rest
from serving import example_models

COMPLAINT = {
    'Product': 'Mortgage', 'Sub-product': 'Conventional home mortgage',
    'Issue': 'Trouble during payment process', 'State': 'CA',
    'ZIP code': '940XX', 'Company response to consumer':
        'Closed with explanation', 'Timely response?': 'Yes',
    'Submitted via': 'Web',
    'Consumer complaint narrative': 'My payment was applied twice and the '
                                    'servicer refused to correct it.',
}
REAL_NARRATIVES = (Path(__file__).resolve().parents[2] / 'data' / 'real' /
                   'cfpb_unlabelled_narratives.csv')


@pytest.fixture
def pushed(e2e_run, start_server):
  base = Path(e2e_run.serving_dir) / e2e_run.model_name
  server = start_server(model_name=e2e_run.model_name,
                        model_base_path=str(base),
                        file_system_poll_wait_seconds=0)
  latest = max((d for d in os.listdir(base) if d.isdigit()), key=int)
  return server, e2e_run.model_name, base / latest


def _both_protocols(server, model_name, complaint):
  rest = client_rest.RestClient('127.0.0.1', server.rest_port, model_name)
  grpc_client = client_grpc.GrpcClient('127.0.0.1', server.grpc_port,
                                       model_name)
  try:
    return rest.predict(complaint), grpc_client.predict(complaint)
  finally:
    rest.close()
    grpc_client.close()


@pytest.mark.e2e
def test_served_probability_matches_in_process(pushed):
  server, model_name, version_dir = pushed
  by_rest, by_grpc = _both_protocols(server, model_name, COMPLAINT)
  loaded = tf.saved_model.load(str(version_dir))
  raw = client_inputs.to_features(COMPLAINT)
  local_raw = loaded.signatures['predict_raw'](
      **{k: tf.constant([v]) for k, v in raw.items()})
  local_examples = loaded.signatures['serving_default'](examples=tf.constant(
      [example_models.raw_example(raw).SerializeToString()]))
  expected = float(local_raw[client_inputs.OUTPUT_KEY].numpy().reshape(-1)[0])
  assert float(local_examples[client_inputs.OUTPUT_KEY].numpy().reshape(-1)[0]) == (
      pytest.approx(expected, abs=1e-6))
  assert by_rest.disputed_probability == pytest.approx(expected, abs=1e-6)
  assert by_grpc.disputed_probability == pytest.approx(expected, abs=1e-6)
  assert by_rest.model_version == by_grpc.model_version == int(
      version_dir.name)


@pytest.mark.e2e
def test_real_unlabelled_narrative_gets_a_probability(pushed):
  server, model_name, _ = pushed
  with open(REAL_NARRATIVES, newline='', encoding='utf-8') as f:
    row = next(csv.DictReader(f))
  narrative_column = next(
      (c for c, k in features.EXPORT_TO_FEATURE.items()
       if k == features.TEXT_FEATURE))
  complaint = dict(row)
  if narrative_column not in complaint:  # A narratives-only file.
    complaint = {narrative_column: next(iter(row.values()))}
  assert complaint[narrative_column].strip()
  by_rest, by_grpc = _both_protocols(server, model_name, complaint)
  assert 0.0 <= by_rest.disputed_probability <= 1.0
  assert by_rest.disputed_probability == pytest.approx(
      by_grpc.disputed_probability, abs=1e-6)


@pytest.mark.e2e
def test_join_key_passes_through_the_pipeline_model(e2e_run, start_server,
                                                    tmp_path):
  """components/signatures.py's serving_default ignores the extra
  complaint_id feature (tf.io.parse_example reads only its spec), over gRPC
  and REST ({"b64": ...}), and the server's PredictionLog carries it."""
  from serving import server_config  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  base = Path(e2e_run.serving_dir) / e2e_run.model_name
  prefix = str(tmp_path / 'logs' / 'requests')
  config = tmp_path / 'models.config'
  server_config.write_model_server_config(str(config), [{
      'name': e2e_run.model_name, 'base_path': str(base),
      'logging': {'filename_prefix': prefix, 'sampling_rate': 1.0}}])
  server = start_server(model_config_file=str(config),
                        file_system_poll_wait_seconds=0)
  rows = [client_inputs.to_features(COMPLAINT),
          client_inputs.to_features({**COMPLAINT,
                                     'Product': 'Debt collection'})]
  ids = ['4242', '4343']
  rest = client_rest.RestClient('127.0.0.1', server.rest_port,
                                e2e_run.model_name)
  grpc_client = client_grpc.GrpcClient('127.0.0.1', server.grpc_port,
                                       e2e_run.model_name)
  try:
    without = rest.predict_features(rows)  # predict_raw: no ID at all.
    by_rest = rest.predict_examples(
        client_inputs.serialized_examples(rows, ids))
    by_grpc, _ = grpc_client.predict_request(grpc_client.examples_request(
        client_inputs.serialized_examples(rows, ids)))
  finally:
    rest.close()
    grpc_client.close()
  assert by_rest == pytest.approx(without, abs=1e-6)
  assert by_grpc == pytest.approx(without, abs=1e-6)
  assert server.core.request_logger.flush(timeout=30)
  logged = []
  for path in sorted(Path(prefix).parent.glob('requests*')):
    for record in tf.data.TFRecordDataset(str(path)):
      log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
      if log.log_metadata.model_spec.signature_name != 'serving_default':
        continue
      for serialized in tf.make_ndarray(
          log.predict_log.request.inputs['examples']).reshape(-1):
        example = tf.train.Example.FromString(serialized)
        logged.append(example.features.feature[features.ID_KEY]
                      .bytes_list.value[0].decode())
  assert logged == ids * 2
