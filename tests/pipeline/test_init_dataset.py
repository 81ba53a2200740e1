"""`python -m pipeline init-dataset`: a draft spec and schema from a CSV.

On the real CSVs the shipped specs describe: the taxi trips (a leak, a
timestamp, integer codes, numbers) and the penguins (three species, NA for
missing). The drafts must load as specs, and their schemas must accept the
data they were drafted from (TFDV, independently of the drafter).
"""

import csv
import json

import pytest

from components import dataset_spec
from tests.conftest import cli_in_process

TAXI_ROWS = 1500


@pytest.fixture(scope='module')
def taxi(tmp_path_factory):
  folder = tmp_path_factory.mktemp('taxi')
  source = dataset_spec.load('taxi').data_path
  sample = folder / 'trips.csv'
  with open(source, newline='', encoding='utf-8') as src, open(
      sample, 'w', newline='', encoding='utf-8') as dst:
    for i, line in enumerate(src):
      if i > TAXI_ROWS:
        break
      dst.write(line)
  proc = cli_in_process('init-dataset', '--data', sample, '--label',
                        'big_tipper', '--out', folder / 'specs', '--json')
  assert proc.returncode == 0, proc.stderr
  return sample, json.loads(proc.stdout)


def _columns(result):
  return {c['name']: c for c in result['columns']}


def test_the_taxi_draft_finds_the_leak_the_timestamp_and_the_kinds(taxi):
  _, result = taxi
  columns = _columns(result)
  assert (result['task'], result['classes'], result['positive']) == (
      'binary', ['0', '1'], '1')
  assert columns['tips']['role'] == 'ignore'
  assert 'separates the label almost by itself' in columns['tips'][
      'warnings'][0]
  assert columns['trip_start_timestamp']['role'] == 'timestamp'
  assert columns['trip_start_timestamp']['options'] == {
      'format': 'epoch_seconds'}
  kinds = {name: c['kind'] for name, c in columns.items()
           if c['role'] == 'feature'}
  for name in ('trip_start_hour', 'trip_start_day', 'trip_start_month',
               'payment_type', 'company', 'dropoff_census_tract'):
    assert kinds[name] == 'categorical', name
  for name in ('fare', 'trip_miles', 'trip_seconds', 'pickup_latitude'):
    assert kinds[name] == 'numeric', name
  spec = dataset_spec.load(result['spec'])
  assert 'tips' not in spec.columns and 'tips' in spec.ignore
  assert spec.timestamp_column == 'trip_start_timestamp'


def test_the_drafted_schema_accepts_the_data_it_came_from(taxi):
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  sample, result = taxi
  spec = dataset_spec.load(result['spec'])
  frame, _ = spec_frame.to_pipeline_frame(
      pd.read_csv(sample, dtype=str, keep_default_na=False), spec)
  converted = sample.parent / 'converted.csv'
  frame.to_csv(converted, index=False)
  schema = tfdv.load_schema_text(result['schema'])
  stats = tfdv.generate_statistics_from_csv(str(converted))
  anomalies = tfdv.validate_statistics(stats, schema)
  assert not anomalies.anomaly_info, anomalies
  payment = tfdv.get_domain(schema, 'payment_type')
  with open(sample, newline='', encoding='utf-8') as f:
    seen = {row['payment_type'] for row in csv.DictReader(f)}
  assert set(payment.value) == seen  # a closed vocabulary of what was seen
  assert tfdv.get_feature(
      schema, 'payment_type').distribution_constraints.min_domain_mass == 0.95


def test_the_schema_accepts_what_csvexamplegen_makes_of_any_slice(taxi,
                                                                   tmp_path):
  """The run validates the examples CsvExampleGen makes (an empty cell: a
  value list of length 0; a column's type inferred per file), not TFDV's
  own CSV reading: TFX's CsvExampleGen executor on the first 300 trips,
  where trip_seconds is never missing, against the shipped taxi schema,
  drafted from all 15,002 trips, where it sometimes is."""
  import glob  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfx.components.example_gen.csv_example_gen import executor  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  sample, _ = taxi
  spec = dataset_spec.load('taxi')
  rows = pd.read_csv(sample, dtype=str, keep_default_na=False).head(300)
  assert (rows['trip_seconds'] != '').all()
  frame, _ = spec_frame.to_pipeline_frame(rows, spec)
  (tmp_path / 'in').mkdir()
  frame.to_csv(tmp_path / 'in' / 'rows.csv', index=False)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'out')
  executor.Executor().Do({}, {'examples': [examples]}, {
      'input_base': str(tmp_path / 'in'),
      'input_config': json_format.MessageToJson(example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name='all',
                                              pattern='*.csv')])),
      'output_config': json_format.MessageToJson(example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name='train',
                                                hash_buckets=1)])))})
  stats = tfdv.generate_statistics_from_tfrecord(
      glob.glob(str(tmp_path / 'out' / 'Split-train' / '*'))[0])
  anomalies = tfdv.validate_statistics(
      stats, tfdv.load_schema_text(spec.schema_path))
  assert not anomalies.anomaly_info, {
      k: v.description for k, v in anomalies.anomaly_info.items()}


def test_the_penguin_draft_is_multiclass_and_reads_na_as_missing(tmp_path):
  source = dataset_spec.load('penguins').data_path
  proc = cli_in_process('init-dataset', '--data', source, '--label',
                        'species', '--name', 'birds', '--out', tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith('label: multiclass, classes Adelie, '
                                'Chinstrap, Gentoo\n'), proc.stdout
  assert f'wrote {tmp_path / "birds.yaml"}' in proc.stdout
  assert 'Traceback' not in proc.stderr
  spec = dataset_spec.load(str(tmp_path / 'birds.yaml'))
  assert spec.label.classes == ('Adelie', 'Chinstrap', 'Gentoo')
  assert spec.missing == ('NA',)
  kinds = {f.column: f.kind for f in spec.features}
  assert kinds['island'] == kinds['sex'] == 'categorical'
  assert kinds['bill_length_mm'] == kinds['body_mass_g'] == 'numeric'


@pytest.mark.parametrize('content, args, message', [
    ('a,b\n1,x\n2,y\n', ['--label', 'c'], "--label 'c' is not a column"),
    ('a,b\n1,x\n2,x\n', ['--label', 'b'], 'the label has 1 class(es) (x)'),
    ('a,b\n1,x\n2,y\n', ['--label', 'b', '--positive', 'z'],
     "--positive 'z' is not a value of the label"),
    ('', ['--label', 'b'], 'cannot read'),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, content, args,
                                                  message):
  data = tmp_path / 'data.csv'
  data.write_text(content)
  out = tmp_path / 'out'
  proc = cli_in_process('init-dataset', '--data', data, '--out', out, *args)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.startswith('error: ') and message in proc.stderr
  assert proc.stderr.count('\n') == 1
  assert not out.exists()


def test_an_existing_draft_is_not_replaced(taxi, tmp_path):
  sample, result = taxi
  before = open(result['spec'], encoding='utf-8').read()
  proc = cli_in_process('init-dataset', '--data', sample, '--label',
                        'big_tipper', '--out',
                        str(sample.parent / 'specs'), '--name', 'trips')
  assert proc.returncode == 2 and 'exists: give another --out' in proc.stderr
  assert open(result['spec'], encoding='utf-8').read() == before
