"""`POST ...:explain` on a real server, for a multi-class model (penguins).

The model: a real Transform (tft_beam over the penguins CSV, the spec's
preprocessing_fn), the by-kind model with seeded (untrained) weights and
the pipeline's export (components/signatures.py), so the `explain`
signature and explain.json are the ones every pushed model carries.
Training adds nothing the server's contract depends on: the wide model's
attributions add up exactly whatever its weights.

The expected values come from elsewhere than the code under test: the
softmax's log-probabilities from :predict's answer give each pair of
classes' logit difference, which the attributions plus the baseline must
match; the feature names are the CSV's header, read with `csv`; the class
names the spec file's, read with `yaml`; the errors are :predict's own.
"""

import csv
import functools
import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from components import attributions
from components import dataset_spec
from serving import client
from serving import explanations
from serving import server_config

from serving_helpers import call, free_port
from tests.conftest import made_once_pickled

MODEL = 'penguins'
MAX_BODY = 256 * 1024
# Rows of the penguins CSV sent as instances (row 3: every measurement NA).
ROWS = (0, 3, 5, 150, 220, 300)


def _build_model(work, seeds=(1, 2)):
  """{version: export dir} of the penguins spec's model, one seed each."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  import tensorflow_transform.beam as tft_beam  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import dataset_metadata  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import metadata_io  # pylint: disable=g-import-not-at-top
  from components import model as cfpb_model  # pylint: disable=g-import-not-at-top
  from components import model_by_kind  # pylint: disable=g-import-not-at-top
  from components import signatures  # pylint: disable=g-import-not-at-top
  from components import transform_by_kind  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  spec = dataset_spec.load(MODEL)
  frame = spec_frame.features_frame(pd.read_csv(
      spec.data_path, dtype=str, keep_default_na=False), spec)
  numeric = {f.key for f in spec.of_kind('numeric')}
  raw_spec = {f.key: tf.io.FixedLenFeature(
      [], tf.float32 if f.key in numeric else tf.string)
              for f in spec.features}
  rows = [{key: (np.float32(row[key]) if key in numeric
                 else str(row[key]).encode()) for key in raw_spec}
          for row in frame.to_dict('records')]
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(raw_spec)
  output = os.path.join(str(work), 'transform_output')
  fn = functools.partial(transform_by_kind.preprocessing_fn, custom_config={
      dataset_spec.CUSTOM_CONFIG_KEY: spec.module_config()})
  with tft_beam.Context(temp_dir=os.path.join(str(work), 'tft')):
    transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(fn)
    _ = transform_fn | tft_beam.WriteTransformFn(output)
  metadata_io.write_metadata(metadata, os.path.join(
      output, tft.TFTransformOutput.RAW_METADATA_DIR))
  transform_output = tft.TFTransformOutput(output)
  transformed = transform_output.transform_features_layer()(
      {key: tf.constant([row[key] for row in rows]) for key in raw_spec})
  built = {}
  for version, seed in enumerate(seeds, start=1):
    tf.keras.utils.set_random_seed(seed)
    model = model_by_kind.build(spec, dict(cfpb_model.DEFAULT_HPARAMS),
                                [0.44, 0.2, 0.36])
    reference = attributions.reference_means(model, [transformed],
                                             spec.output_key, spec)
    built[version] = os.path.join(str(work), 'penguins', str(version))
    signatures.export(model, transform_output, built[version], spec=spec,
                      reference=reference)
  return built


@pytest.fixture(scope='session')
def penguins_versions(request, tmp_path_factory):
  """{1: dir, 2: dir}: two versions (seeds) of the penguins model, made
  once for both xdist workers; read-only."""
  return made_once_pickled(request, tmp_path_factory, 'penguins_explain',
                           _build_model)


def _write_config(folder, penguins_versions, complaint_model, logs=None):
  base = os.path.dirname(penguins_versions[1])
  penguins = {'name': MODEL, 'base_path': base, 'versions': [1, 2],
              'labels': {'stable': 1, 'canary': 2}}
  if logs:
    penguins['logging'] = {'filename_prefix': logs}
  path = folder / 'models.config'
  server_config.write_model_server_config(str(path), [
      penguins, {'name': 'complaints', 'base_path': complaint_model}])
  monitoring = folder / 'monitoring.config'
  monitoring.write_text('prometheus_config { enable: true, '
                        'path: "/monitoring/prometheus/metrics" }\n')
  return {'model_config_file': str(path),
          'monitoring_config_file': str(monitoring),
          'file_system_poll_wait_seconds': 0,
          'allow_version_labels_for_unavailable_models': True,
          'rest_api_max_body_bytes': MAX_BODY}


@pytest.fixture(scope='module')
def server(penguins_versions, complaint_model, tmp_path_factory):
  """The default (event-loop) transport, no batching."""
  from serving import model_server  # pylint: disable=g-import-not-at-top
  options = server_config.ServerOptions(
      port=free_port(), rest_api_port=free_port(), bind_address='127.0.0.1',
      **_write_config(tmp_path_factory.mktemp('explain'), penguins_versions,
                      complaint_model))
  started = model_server.ModelServer(options).start()
  yield started
  started.stop()


@pytest.fixture(scope='module')
def csv_rows():
  """The penguins CSV, as `csv` reads it: (header, rows)."""
  spec = dataset_spec.load(MODEL)
  with open(spec.data_path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    return list(reader.fieldnames), list(reader)


@pytest.fixture(scope='module')
def spec_file():
  """The penguins spec as its YAML file writes it."""
  with open(dataset_spec.spec_path(MODEL), encoding='utf-8') as f:
    return yaml.safe_load(f)


def _key(feature) -> str:
  return feature.get('key') or dataset_spec.feature_key(feature['column'])


def _instances(csv_rows, spec_file):
  """ROWS as predict_raw instances: numbers as floats (NA: NaN)."""
  _, rows = csv_rows
  instances = []
  for index in ROWS:
    instance = {}
    for feature in spec_file['features']:
      value = rows[index][feature['column']]
      if feature['kind'] == 'numeric':
        instance[_key(feature)] = (math.nan if value in ('', 'NA')
                                   else float(value))
      else:
        instance[_key(feature)] = '' if value == 'NA' else value
    instances.append(instance)
  return instances


def _post(server, verb, body, path=f'/v1/models/{MODEL}'):
  if not isinstance(body, (bytes, str)):
    body = json.dumps(body)
  return call(server.rest_port, 'POST', f'{path}:{verb}', body)


def test_the_server_reads_the_names_components_export():
  assert explanations.SIGNATURE == attributions.SIGNATURE
  assert explanations.DESCRIPTION_FILE == attributions.DESCRIPTION_FILE
  assert explanations.EXPLANATION_OUTPUTS == {
      attributions.ATTRIBUTIONS, attributions.BASELINE, attributions.LOGITS,
      attributions.APPROXIMATION_ERROR}


def test_attributions_add_up_to_each_class_pair_logit_difference(
    server, csv_rows, spec_file):
  """Softmax: log p_c - log p_d = z_c - z_d, and each class's logit is its
  baseline plus its attributions (exact: the wide model)."""
  body = {'signature_name': 'predict_raw',
          'instances': _instances(csv_rows, spec_file)}
  status, predicted = _post(server, 'predict', body)
  assert status == 200
  status, explained = _post(server, 'explain', body)
  assert status == 200, explained
  classes = spec_file['label']['classes']
  assert len(explained['explanations']) == len(ROWS)
  for probabilities, explanation in zip(predicted['predictions'],
                                        explained['explanations']):
    assert explanation['approximation_error'] == pytest.approx(0, abs=1e-6)
    assert list(explanation['attributions']) == classes
    logit = {c: explanation['baseline'][c] + sum(
        explanation['attributions'][c].values()) for c in classes}
    for c in classes:
      assert explanation['logit'][c] == pytest.approx(logit[c], abs=1e-4)
    for i, c in enumerate(classes):
      for j, d in enumerate(classes[:i]):
        assert logit[c] - logit[d] == pytest.approx(
            math.log(probabilities[i]) - math.log(probabilities[j]),
            abs=1e-4)
  # Not all zero: the check above had something to add up.
  assert max(abs(v) for e in explained['explanations']
             for by_feature in e['attributions'].values()
             for v in by_feature.values()) > 0.05


def test_features_are_the_csv_columns_and_classes_the_specs(
    server, csv_rows, spec_file):
  header, _ = csv_rows
  body = {'instances': _instances(csv_rows, spec_file)[:1]}
  _, explained = _post(server, 'explain', body)
  explanation = explained['explanations'][0]
  by_class = explanation['attributions']
  assert list(by_class) == spec_file['label']['classes']
  read = [f['column'] for f in spec_file['features']]
  for by_feature in by_class.values():
    assert list(by_feature) == read
    assert set(by_feature) <= set(header)
  assert set(explanation['baseline']) == set(explanation['logit']) == set(
      spec_file['label']['classes'])


def test_predictions_are_predicts_in_both_formats(server, csv_rows,
                                                  spec_file):
  instances = _instances(csv_rows, spec_file)
  row_body = {'signature_name': 'predict_raw', 'instances': instances}
  _, predicted = _post(server, 'predict', row_body)
  _, explained = _post(server, 'explain', row_body)
  assert explained['predictions'] == predicted['predictions']
  columnar = {'signature_name': 'predict_raw', 'inputs': {
      key: [i[key] for i in instances] for key in instances[0]}}
  _, by_columns = _post(server, 'predict', columnar)
  _, explained_columns = _post(server, 'explain', columnar)
  assert explained_columns['predictions'] == by_columns['outputs']
  assert explained_columns['explanations'] == explained['explanations']


_RAW = b'{"signature_name": "predict_raw", '
_PENGUIN = (b'"island": "Biscoe", "sex": "", "bill_depth_mm": 1, '
            b'"flipper_length_mm": 1, "body_mass_g": 1, "year": "2007"')


@pytest.mark.parametrize('body', [
    b'', b'   ', b'{"instances": [', b'[1, 2]', b'\xff\xfe',
    _RAW + b'"instances": []}',
    _RAW + b'"instances": [{"island": "Biscoe"}]}',
    _RAW + b'"instances": [{' + _PENGUIN + b', "bill_length_mm": "long"}]}',
    _RAW + b'"instances": [{' + _PENGUIN.replace(b'"Biscoe"', b'3') +
    b', "bill_length_mm": 1}]}',
    _RAW + b'"instances": [{' + _PENGUIN + b', "bill_length_mm": 1, '
    b'"beak": 1}]}',
    _RAW + b'"instances": [{' + _PENGUIN + b', "bill_length_mm": [1, 2]}]}',
    _RAW + b'"inputs": {"island": ["Biscoe"]}, "instances": []}',
    b'{"signature_name": 7, "instances": []}',
    b'{"signature_name": "nope", "instances": [{"island": "Biscoe"}]}',
], ids=lambda body: body[:60].decode('latin-1'))
def test_bad_bodies_get_predicts_answers(server, body):
  """The same status and error as :predict of predict_raw (a body without
  signature_name goes to serving_default on :predict, explain on
  :explain, so the input errors are sent naming predict_raw)."""
  expected = _post(server, 'predict', body)
  assert expected[0] == 400 and 'error' in expected[1]
  assert _post(server, 'explain', body) == expected


def test_a_body_over_the_size_limit_is_refused_as_for_predict(server):
  body = b'{"instances": ["' + b'x' * MAX_BODY + b'"]}'
  for verb in ('predict', 'explain'):
    status, answer = _post(server, verb, body)
    assert status == 413 and 'larger than the limit' in answer['error']


def test_version_and_label_routes(server, csv_rows, spec_file):
  body = {'signature_name': 'predict_raw',
          'instances': _instances(csv_rows, spec_file)}
  answers = {}
  for route, version in (('/versions/1', 1), ('/versions/2', 2),
                         ('/labels/stable', 1), ('/labels/canary', 2),
                         ('', 2)):
    path = f'/v1/models/{MODEL}{route}'
    status, explained = _post(server, 'explain', body, path)
    assert status == 200, explained
    _, predicted = _post(server, 'predict', body, path)
    assert explained['predictions'] == predicted['predictions']
    answers.setdefault(version, explained)
    assert explained == answers[version]
  # Two seeds, two models: the routes reached different versions.
  assert answers[1]['predictions'] != answers[2]['predictions']
  for route in ('/versions/9', '/labels/nope'):
    path = f'/v1/models/{MODEL}{route}'
    expected = _post(server, 'predict', body, path)
    assert expected[0] in (400, 404)
    assert _post(server, 'explain', body, path) == expected
  assert _post(server, 'explain', body, '/v1/models/nope') == _post(
      server, 'predict', body, '/v1/models/nope')


def test_a_model_without_explain_is_a_clear_400(server):
  body = {'signature_name': 'predict_raw', 'instances': [{}]}
  status, answer = _post(server, 'explain', body, '/v1/models/complaints')
  assert status == 400
  assert answer['error'].startswith(
      'Model complaints version 1 has no "explain" signature')


def test_a_body_naming_another_signature(server, csv_rows, spec_file):
  instances = _instances(csv_rows, spec_file)[:1]
  for name in ('predict_raw', 'explain'):
    status, _ = _post(server, 'explain', {'signature_name': name,
                                          'instances': instances})
    assert status == 200
  status, answer = _post(server, 'explain', {
      'signature_name': 'serving_default',
      'instances': [{'examples': {'b64': ''}}]})
  assert status == 400
  assert 'takes the inputs of "predict_raw"' in answer['error']
  assert 'not those of "serving_default"' in answer['error']


def _metric(text, name, **labels):
  """The value of one sample of a Prometheus text page (0 if absent)."""
  for line in text.splitlines():
    if line.startswith(name + '{') and all(
        f'{k}="{v}"' in line for k, v in labels.items()):
      return float(line.rsplit(' ', 1)[1])
  return 0.0


def test_counted_and_logged_as_served_traffic(
    penguins_versions, complaint_model, tmp_path, start_server, csv_rows,
    spec_file):
  """The request counter and latency histogram under API "Explain"; the
  request log holds a PredictLog of the explain signature (served
  traffic: its inputs are predict_raw's, its outputs the probabilities
  and the attributions)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  logs = str(tmp_path / 'logs' / 'penguins')
  logged = start_server(**_write_config(tmp_path, penguins_versions,
                                        complaint_model, logs))
  body = {'instances': _instances(csv_rows, spec_file)}
  assert _post(logged, 'explain', body)[0] == 200
  assert _post(logged, 'explain', b'{')[0] == 400
  metrics_path = '/monitoring/prometheus/metrics'
  _, page, _ = call(logged.rest_port, 'GET', metrics_path, raw=True)
  assert _metric(page, ':tensorflow:serving:request_count',
                 model_name=MODEL, status='OK') == 1
  assert _metric(page, ':tensorflow:serving:request_count',
                 model_name=MODEL, status='INVALID_ARGUMENT') == 1
  assert _metric(page, ':tensorflow:serving:request_latency_count',
                 model_name=MODEL, API='Explain', entrypoint='REST') == 1
  logged.stop()
  records = []
  for name in sorted(os.listdir(os.path.dirname(logs))):
    for record in tf.data.TFRecordDataset(os.path.join(
        os.path.dirname(logs), name)):
      records.append(prediction_log_pb2.PredictionLog.FromString(
          record.numpy()))
  assert len(records) == 1
  log = records[0].predict_log
  assert records[0].log_metadata.model_spec.signature_name == 'explain'
  assert set(log.request.inputs) == {
      dataset_spec.feature_key(f['column']) for f in spec_file['features']}
  assert tf.make_ndarray(log.response.outputs['attributions']).shape == (
      len(ROWS), len(spec_file['features']), 3)


@pytest.mark.parametrize('options', [
    {'server_transport': 'threads'}, {'enable_batching': True}],
    ids=['threads-transport', 'event-loop-batching'])
def test_other_transport_and_batching_answer_the_same(
    server, options, penguins_versions, complaint_model, tmp_path,
    start_server, csv_rows, spec_file):
  other = start_server(**_write_config(tmp_path, penguins_versions,
                                       complaint_model), **options)
  body = {'instances': _instances(csv_rows, spec_file)}
  assert _post(other, 'explain', body) == _post(server, 'explain', body)
  assert _post(other, 'explain', b'{"instances": [') == _post(
      server, 'explain', b'{"instances": [')


def test_the_client_prints_the_largest_attributions(server, csv_rows,
                                                    spec_file, capsys):
  row = {k: (None if isinstance(v, float) and math.isnan(v) else v)
         for k, v in _instances(csv_rows, spec_file)[0].items()}
  code = client.main(['--dataset', MODEL, '--port', str(server.rest_port),
                      '--host', '127.0.0.1', '--row', json.dumps(row),
                      '--explain'])
  out = capsys.readouterr().out.splitlines()
  assert code == 0
  result = json.loads(out[-1])
  classes = spec_file['label']['classes']
  assert list(result['explanation']['attributions']) == classes
  for name in classes:
    by_feature = result['explanation']['attributions'][name]
    largest = max(by_feature, key=lambda k: abs(by_feature[k]))
    # The class's equation, then its largest attribution first.
    at = next(i for i, line in enumerate(out)
              if line.strip().startswith(f'{name}: logit'))
    assert out[at + 1].split() == [f'{by_feature[largest]:+.4f}', largest]


@pytest.mark.parametrize('extra, message', [
    (['--protocol', 'grpc'], ':explain is a REST call'),
    (['--rows', 'x.csv', '--out', 'y.csv'], '--explain explains one'),
])
def test_the_client_refuses_what_it_cannot_explain(extra, message, capsys):
  argv = ['--dataset', MODEL, '--explain', *extra]
  if '--rows' not in extra:
    argv += ['--row', '{}']
  assert client.main(argv) == 2
  assert message in capsys.readouterr().err
