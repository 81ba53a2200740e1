"""The data gate's reader and executor on anomalies TFX itself wrote.

TFX's own ExampleValidator executor validates hand-written statistics
against a schema here (tfdv.validate_statistics, no Beam: fast), so the
anomaly protos and their layout (`Split-<name>/SchemaDiff.pb`) are what a
pipeline run records; if TFX moves or renames the file, the clean case
below fails instead of the gate letting every row through. Hand-built
Anomalies protos, written where TFX's executor says it writes them, pin the
exact lines.
"""

import os

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from components import data_gate

SPLITS = ['train', 'eval']

SCHEMA = """
feature {
  name: "product" type: BYTES domain: "product"
  presence { min_fraction: 1 min_count: 1 }
}
string_domain { name: "product" value: "Mortgage" value: "Student loan" }
dataset_constraints { min_examples_count: %d }
"""


def _stats(rows, values):
  """Statistics of `rows` examples, each with one `product` value;
  values: {value: count}."""
  buckets = ''.join(
      'buckets { low_rank: %d high_rank: %d label: "%s" sample_count: %d } '
      % (i, i, value, count) for i, (value, count) in enumerate(values.items()))
  tops = ''.join('top_values { value: "%s" frequency: %d } ' % item
                 for item in values.items())
  text = """
  datasets {
    num_examples: %d
    features {
      path { step: "product" } type: STRING
      string_stats {
        common_stats {
          num_non_missing: %d min_num_values: 1 max_num_values: 1
          avg_num_values: 1 tot_num_values: %d
        }
        unique: %d %s rank_histogram { %s }
      }
    }
  }""" % (rows, rows, rows, len(values), tops, buckets)
  return text_format.Parse(text, statistics_pb2.DatasetFeatureStatisticsList())


CLEAN = {'Mortgage': 150, 'Student loan': 50}


def _validate(tmp_path, stats_per_split, min_examples=1):
  """Runs TFX's ExampleValidator executor; returns its anomalies artifact."""
  from tfx.components.example_validator import executor  # pylint: disable=g-import-not-at-top
  from tfx.components.statistics_gen import stats_artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  stats = standard_artifacts.ExampleStatistics()
  stats.uri = str(tmp_path / 'statistics')
  stats.split_names = artifact_utils.encode_split_names(list(stats_per_split))
  for split, found in stats_per_split.items():
    folder = artifact_utils.get_split_uri([stats], split)
    os.makedirs(folder)
    with open(os.path.join(folder, stats_artifact_utils.BINARY_PB_BASENAME),
              'wb') as f:
      f.write(found.SerializeToString())
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / 'schema')
  os.makedirs(schema.uri)
  (tmp_path / 'schema' / 'schema.pbtxt').write_text(SCHEMA % min_examples)
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / 'anomalies')
  os.makedirs(anomalies.uri)
  executor.Executor().Do(
      {'statistics': [stats], 'schema': [schema]},
      {'anomalies': [anomalies]}, {'exclude_splits': '[]'})
  return anomalies


def _gate(anomalies):
  """The DataGate component's executor, as TFX's launcher runs it."""
  data_gate.DataGate.EXECUTOR_SPEC.executor_class().Do(
      {'anomalies': [anomalies]}, {}, {})


def _anomalies_path(anomalies, split):
  """Where TFX's ExampleValidator writes a split's anomalies."""
  from tfx.components.example_validator import executor  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  return os.path.join(artifact_utils.get_split_uri([anomalies], split),
                      executor.DEFAULT_FILE_NAME)


def _recorded(anomalies, split):
  proto = anomalies_pb2.Anomalies()
  with open(_anomalies_path(anomalies, split), 'rb') as f:
    proto.ParseFromString(f.read())
  return proto


def test_clean_data_passes_and_the_gate_reads_where_tfx_writes(tmp_path):
  anomalies = _validate(tmp_path, {s: _stats(200, CLEAN) for s in SPLITS})
  for split in SPLITS:  # TFX wrote an (empty) Anomalies for each split
    assert os.path.isfile(_anomalies_path(anomalies, split))
    assert not _recorded(anomalies, split).anomaly_info
  assert data_gate.read_anomalies(anomalies.uri) == {}
  assert data_gate.read_anomalies(anomalies.uri, SPLITS) == {}
  _gate(anomalies)  # no exception: the run goes on


def test_a_feature_level_anomaly_stops_the_run(tmp_path):
  bad = {'Mortgage': 100, 'Crypto asset': 100}  # not in the schema's domain
  anomalies = _validate(tmp_path, {'train': _stats(200, CLEAN),
                                   'eval': _stats(200, bad)})
  found = data_gate.read_anomalies(anomalies.uri)
  assert list(found) == ['eval']  # only the split with bad values
  (line,) = found['eval']
  assert line.startswith('product: ') and 'Crypto asset' in line
  with pytest.raises(data_gate.DataAnomaliesError,
                     match=r'(?s)nothing was trained.*\[eval\] product: '):
    _gate(anomalies)


def test_a_dataset_level_anomaly_stops_the_run(tmp_path):
  """Too few examples in eval: no feature is wrong, the dataset is."""
  anomalies = _validate(tmp_path, {'train': _stats(200, CLEAN),
                                   'eval': _stats(10, {'Mortgage': 10})},
                        min_examples=100)
  recorded = _recorded(anomalies, 'eval')
  assert not recorded.anomaly_info and recorded.HasField(
      'dataset_anomaly_info')  # TFDV put it at the dataset level
  assert recorded.dataset_anomaly_info.description
  found = data_gate.read_anomalies(anomalies.uri)
  assert found == {'eval': [
      '(dataset): ' + recorded.dataset_anomaly_info.description]}
  assert '10 examples' in found['eval'][0]
  with pytest.raises(data_gate.DataAnomaliesError,
                     match=r'\[eval\] \(dataset\): '):
    _gate(anomalies)


def test_recorded_protos_read_line_by_line(tmp_path):
  """Hand-built protos at TFX's path: each feature sorted by name, the
  short description when there is no long one, the dataset's line last."""
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.utils import writer_utils  # pylint: disable=g-import-not-at-top
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path)
  anomalies.split_names = artifact_utils.encode_split_names(SPLITS)
  train = anomalies_pb2.Anomalies()
  train.anomaly_info['state'].short_description = 'Unexpected string values'
  train.anomaly_info['company'].description = 'Column dropped'
  train.anomaly_info['company'].short_description = 'Dropped'
  train.dataset_anomaly_info.short_description = 'Low num examples in dataset.'
  for split, proto in (('train', train), ('eval', anomalies_pb2.Anomalies())):
    os.makedirs(artifact_utils.get_split_uri([anomalies], split))
    writer_utils.write_anomalies(_anomalies_path(anomalies, split), proto)
  expected = {'train': ['company: Column dropped',
                        'state: Unexpected string values',
                        '(dataset): Low num examples in dataset.']}
  assert data_gate.read_anomalies(str(tmp_path)) == expected
  assert data_gate.format_anomalies(expected) == (
      '  [train] company: Column dropped\n'
      '  [train] state: Unexpected string values\n'
      '  [train] (dataset): Low num examples in dataset.')


def test_a_missing_anomalies_file_is_an_error_not_a_pass(tmp_path):
  anomalies = _validate(tmp_path, {s: _stats(200, CLEAN) for s in SPLITS})
  path = _anomalies_path(anomalies, 'eval')
  # As if TFX wrote it under another name: the gate must not read "no
  # anomalies" from the absence.
  os.rename(path, path + '.moved')
  for splits in (None, SPLITS):
    with pytest.raises(data_gate.AnomaliesFileMissingError,
                       match="split 'eval' are not at .*SchemaDiff.pb"):
      data_gate.read_anomalies(anomalies.uri, splits)
  with pytest.raises(data_gate.AnomaliesFileMissingError) as raised:
    _gate(anomalies)
  # Not reported as bad data (the runner's exit 3): the gate itself broke.
  assert not isinstance(raised.value, data_gate.DataAnomaliesError)


def test_a_validated_split_without_its_folder_stops_the_gate(tmp_path):
  """The artifact names the splits ExampleValidator validated: one without
  its folder stops the gate, though the folders alone look complete."""
  anomalies = _validate(tmp_path, {s: _stats(200, CLEAN) for s in SPLITS})
  os.remove(_anomalies_path(anomalies, 'eval'))
  os.rmdir(os.path.dirname(_anomalies_path(anomalies, 'eval')))
  assert data_gate.read_anomalies(anomalies.uri) == {}  # train alone: clean
  with pytest.raises(data_gate.AnomaliesFileMissingError, match="'eval'"):
    _gate(anomalies)


def test_no_split_at_all_is_an_error(tmp_path):
  (tmp_path / 'SchemaDiff.pb').write_bytes(b'')  # not in a Split- folder
  with pytest.raises(data_gate.AnomaliesFileMissingError,
                     match='validated no split'):
    data_gate.read_anomalies(str(tmp_path))
