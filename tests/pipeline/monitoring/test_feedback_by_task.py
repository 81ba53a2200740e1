"""`pipeline feedback` on data sets other than CFPB: labels in the spec's
classes, joined by the row key, the live metric by task, the span in the
spec's columns.

The request logs are PredictionLog records in the format the server writes
them (TF Serving's `serving_default` Predict request of serialized
tf.Examples carrying the join key, and the response's probabilities),
written as a TFRecord file; the ML Metadata store is a real, empty one (no
pushed version: `eval` is then unknown). The rows are the real penguin and
taxi CSVs the specs name; the scores are made by the test so the expected
AUC comes from scikit-learn, not from the code under test.
"""

import json

import numpy as np
import pandas as pd
import pytest

from components import dataset_spec
from data import spec_frame
from pipeline import paths as project_paths
from tests.conftest import cli_in_process

VERSION = 7


def _empty_metadata(output):
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  output.mkdir(parents=True, exist_ok=True)
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = project_paths.run_paths(
      str(output)).metadata_path
  config.sqlite.connection_mode = 3   # READWRITE_OPENCREATE
  metadata_store.MetadataStore(config)


def _example(row, spec, key):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feature = {}
  for f in spec.features:
    value = row[f.key]
    if f.kind == 'numeric':
      feature[f.key] = tf.train.Feature(float_list=tf.train.FloatList(
          value=[] if pd.isna(value) else [float(value)]))
    else:
      feature[f.key] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[str(value).encode()]))
  feature[spec.join_key] = tf.train.Feature(bytes_list=tf.train.BytesList(
      value=[str(key).encode()]))
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString()


def _write_logs(path, spec, frame, scores, batch=50):
  """One Predict record per batch of rows, as the server logs them."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  path.parent.mkdir(parents=True, exist_ok=True)
  with tf.io.TFRecordWriter(str(path)) as writer:
    for begin in range(0, len(frame), batch):
      rows = frame.iloc[begin:begin + batch]
      log = prediction_log_pb2.PredictionLog()
      log.log_metadata.model_spec.name = spec.model_name
      log.log_metadata.model_spec.version.value = VERSION
      request = log.predict_log.request
      request.model_spec.name = spec.model_name
      request.model_spec.signature_name = 'serving_default'
      request.inputs['examples'].CopyFrom(tf.make_tensor_proto(
          [_example(row, spec, row[spec.join_key])
           for _, row in rows.iterrows()], dtype=tf.string))
      log.predict_log.response.model_spec.version.value = VERSION
      log.predict_log.response.outputs[spec.output_key].CopyFrom(
          tf.make_tensor_proto(np.asarray(scores[begin:begin + batch],
                                          dtype=np.float32)))
      writer.write(log.SerializeToString())


def _feedback(output, labels, logs, dataset, *extra):
  proc = cli_in_process('feedback', str(labels), '--logs', str(logs),
                        '--output', str(output), '--dataset', dataset,
                        '--json', *extra)
  return proc, (json.loads(proc.stdout) if proc.returncode == 0 else None)


@pytest.fixture(scope='module')
def penguins(tmp_path_factory):
  """The real penguins CSV, its rows logged with made-up scores that rank
  the true species first on most rows."""
  spec = dataset_spec.load('penguins')
  csv = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  # The CSV is sorted by species: shuffled, every slice holds all three.
  csv = csv.sample(frac=1.0, random_state=3).reset_index(drop=True)
  frame, _ = spec_frame.to_pipeline_frame(csv, spec)
  rng = np.random.default_rng(3)
  labels = frame[spec.label.key].to_numpy()
  scores = rng.dirichlet([1, 1, 1], len(frame)) + 0.4 * np.eye(3)[labels]
  scores /= scores.sum(axis=1, keepdims=True)
  work = tmp_path_factory.mktemp('penguins')
  output = work / 'output'
  _empty_metadata(output)
  logs = work / 'logs' / 'log-0'
  logged = frame.iloc[:300]
  _write_logs(logs, spec, logged, scores[:300])
  return spec, csv, frame, scores, output, logs


def test_multiclass_feedback_from_the_labelled_rows(penguins, tmp_path):
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  spec, csv, frame, scores, output, logs = penguins
  labels = tmp_path / 'labels.csv'
  csv.iloc[:250].to_csv(labels, index=False)    # 250 of the 300 logged
  proc, result = _feedback(output, labels, logs, 'penguins')
  assert proc.returncode == 0, proc.stderr
  assert result['join_key'] == dataset_spec.ROW_KEY
  assert (result['matched_ids'], result['logged_ids_without_label']) == (
      250, 50)
  [version] = result['versions']
  live = version['live']
  assert version['model_version'] == str(VERSION) and version['eval'] is None
  expected = roc_auc_score(frame[spec.label.key][:250], scores[:250],
                           multi_class='ovr', average='macro')
  assert live['metric'] == 'macro AUC'
  assert live['auc'] == pytest.approx(expected, abs=1e-6)
  low, high = live['auc_ci95']
  assert low < live['auc'] < high
  assert live['class_rows'] == {
      c: int((csv['species'][:250] == c).sum()) for c in spec.label.classes}
  span = pd.read_csv(result['span']['path'])
  assert result['span']['rows'] == 250
  assert list(span.columns) == [spec.join_key] + [
      f.key for f in spec.features] + [spec.label.key]
  by_key = frame.set_index(spec.join_key)
  for _, row in span.head(30).iterrows():
    truth = by_key.loc[row[spec.join_key]]
    assert row[spec.label.key] == truth[spec.label.key]
    assert row['bill_length_mm'] == pytest.approx(truth['bill_length_mm']) \
        or (pd.isna(row['bill_length_mm'])
            and pd.isna(truth['bill_length_mm']))
    assert row['island'] == truth['island']


def test_labels_outside_the_classes_are_one_line_and_write_nothing(
    penguins, tmp_path):
  spec, csv, _, _, output, logs = penguins
  bad = csv.iloc[:10].copy()
  bad.loc[bad.index[3], 'species'] = 'Emperor'
  labels = tmp_path / 'labels.csv'
  bad.to_csv(labels, index=False)
  before = sorted(p.name for p in (output / 'input').glob('*')) if (
      output / 'input').exists() else []
  proc, _ = _feedback(output, labels, logs, 'penguins')
  assert proc.returncode == 2 and 'Traceback' not in proc.stderr
  assert ('"species" must be one of Adelie, Chinstrap, Gentoo; found '
          "'Emperor'") in proc.stderr
  after = sorted(p.name for p in (output / 'input').glob('*')) if (
      output / 'input').exists() else []
  assert after == before


def test_labels_of_requests_no_longer_logged_say_so(penguins, tmp_path):
  spec, csv, _, _, output, logs = penguins
  labels = tmp_path / 'labels.csv'
  csv.iloc[300:320].to_csv(labels, index=False)   # never logged
  proc, _ = _feedback(output, labels, logs, 'penguins', '--no-span')
  assert proc.returncode == 2
  assert 'none of the 20 labelled keys matches a request logged' in (
      proc.stderr)
  assert 'retention bound' in proc.stderr


@pytest.fixture(scope='module')
def taxi(tmp_path_factory):
  """600 real taxi trips logged with scores that follow the label."""
  spec = dataset_spec.load('taxi')
  csv = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False,
                    nrows=600)
  frame, _ = spec_frame.to_pipeline_frame(csv, spec)
  rng = np.random.default_rng(5)
  labels = frame[spec.label.key].to_numpy()
  scores = 1 / (1 + np.exp(-(rng.normal(0, 1, len(frame)) + 1.2 * labels)))
  work = tmp_path_factory.mktemp('taxi')
  output = work / 'output'
  _empty_metadata(output)
  logs = work / 'logs' / 'log-0'
  _write_logs(logs, spec, frame, scores)
  return spec, csv, frame, scores, output, logs


def test_binary_feedback_by_row_key_column(taxi, tmp_path):
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  spec, csv, frame, scores, output, logs = taxi
  labels = tmp_path / 'labels.csv'
  pd.DataFrame({'row_key': frame[spec.join_key].astype(str),
                'big_tipper': csv['big_tipper']}).to_csv(labels, index=False)
  proc, result = _feedback(output, labels, logs, 'taxi', '--no-span')
  assert proc.returncode == 0, proc.stderr
  live = result['versions'][0]['live']
  assert live['metric'] == 'AUC' and live['examples'] == 600
  assert live['positives'] == int((csv['big_tipper'] == '1').sum())
  assert live['auc'] == pytest.approx(
      roc_auc_score(frame[spec.label.key], scores), abs=1e-6)
  assert 'span' not in result


def test_binary_label_values_are_the_specs(taxi, tmp_path):
  spec, _, frame, _, output, logs = taxi
  labels = tmp_path / 'labels.csv'
  pd.DataFrame({'row_key': frame[spec.join_key].astype(str)[:3],
                'big_tipper': ['1', 'Yes', '0']}).to_csv(labels, index=False)
  proc, _ = _feedback(output, labels, logs, 'taxi')
  assert proc.returncode == 2
  assert '"big_tipper" must be 1 or 0; found \'Yes\'' in proc.stderr
