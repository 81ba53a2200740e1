"""The bulk client for any data set (serving/client_rows.py), without a
server: how a row becomes a tf.Example, and the command line's bad input."""

import contextlib
import io

import pandas as pd
import tensorflow as tf

from components import dataset_spec
from serving import client
from serving import client_rows


def test_a_taxi_row_is_typed_as_the_curated_schema_says(tmp_path):
  spec = dataset_spec.load('taxi')
  csv = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False,
                    nrows=3)
  csv.loc[0, 'fare'] = ''                 # a number left out
  path = tmp_path / 'trips.csv'
  csv.to_csv(path, index=False)
  rows = client_rows.read_rows(str(path), spec)
  types = client_rows.schema_types(spec)
  assert (types['fare'], types['trip_start_hour'], types['company']) == (
      'FLOAT', 'INT', 'BYTES')
  [first, second, _] = [tf.train.Example.FromString(s).features.feature
                        for s in client_rows.serialized_rows(rows, spec,
                                                             types)]
  assert first['fare'].WhichOneof('kind') is None     # missing: no value
  assert second['fare'].float_list.value[0] == float(csv.loc[1, 'fare'])
  assert second['trip_start_hour'].int64_list.value == [
      int(csv.loc[1, 'trip_start_hour'])]
  assert second['company'].bytes_list.value == [
      csv.loc[1, 'company'].encode()]
  # The join key: the row key the converter derives, as a string.
  assert second['row_key'].bytes_list.value == [
      str(rows.loc[1, 'row_key']).encode()]
  assert 'tips' not in second and 'big_tipper' not in second


def _main(*argv):
  err = io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(
      io.StringIO()):
    code = client.main(list(argv))
  return code, err.getvalue()


def test_bad_bulk_input_is_one_line_exit_2(tmp_path):
  bad = tmp_path / 'bad.csv'
  bad.write_text('fare,company\n1.0,x\n')
  for argv, message in [
      (('--rows', str(bad), '--out', str(tmp_path / 's.csv')),
       '--rows sends tf.Examples over gRPC'),
      (('--rows', str(bad), '--protocol', 'grpc'), '--rows needs --out'),
      (('--rows', str(bad), '--protocol', 'grpc', '--out',
        str(tmp_path / 's.csv')), "lacks the column(s) 'trip_miles'"),
      (('--rows', str(bad), '--protocol', 'grpc', '--out',
        str(tmp_path / 's.csv'), '--canary-share', '2'),
       '--canary-share must be between 0 and 1')]:
    code, err = _main('--dataset', 'taxi', *argv)
    assert code == 2 and message in err, err
    assert 'Traceback' not in err and err.count('\n') == 1
