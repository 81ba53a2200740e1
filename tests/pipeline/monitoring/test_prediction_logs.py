"""The tolerant PredictionLog reader on files written with TensorFlow's own
TFRecordWriter, then truncated or corrupted by hand."""

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from pipeline.monitoring import prediction_logs


def _log(version: int) -> bytes:
  log = prediction_log_pb2.PredictionLog()
  log.log_metadata.model_spec.name = 'complaints'
  log.log_metadata.model_spec.version.value = version
  log.predict_log.request.model_spec.name = 'complaints'
  return log.SerializeToString()


def _write(path, versions):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for version in versions:
      writer.write(_log(version))


def test_intact_files_read_whole(tmp_path):
  _write(tmp_path / 'log-1', [1, 2, 3])
  _write(tmp_path / 'log-2', [4])
  result = prediction_logs.read(str(tmp_path))
  assert [log.log_metadata.model_spec.version.value
          for log in result.logs] == [1, 2, 3, 4]
  assert result.damaged_files == [] and result.unreadable_bytes == 0
  assert prediction_logs.read(str(tmp_path / 'log-2*')).files == [
      str(tmp_path / 'log-2')]


def test_a_truncated_record_keeps_those_before_it(tmp_path):
  path = tmp_path / 'log-1'
  _write(path, [1, 2, 3])
  whole = path.read_bytes()
  path.write_bytes(whole[:-5])  # the last record loses its tail
  result = prediction_logs.read(str(tmp_path))
  assert [log.log_metadata.model_spec.version.value
          for log in result.logs] == [1, 2]
  assert result.damaged_files == [str(path)]
  assert result.unreadable_bytes == len(_log(3)) + 16 - 5


def test_a_corrupt_record_is_counted_not_parsed(tmp_path):
  path = tmp_path / 'log-1'
  _write(path, [1, 2])
  data = bytearray(path.read_bytes())
  data[12 + 3] ^= 0xff  # a byte of the first record's payload
  path.write_bytes(bytes(data))
  _write(tmp_path / 'log-2', [7])
  result = prediction_logs.read(str(tmp_path))
  # Nothing after the damage in that file can be trusted; the next file is.
  assert [log.log_metadata.model_spec.version.value
          for log in result.logs] == [7]
  assert result.damaged_files == [str(path)]


def test_no_logs_and_no_readable_record_are_clear_errors(tmp_path):
  with pytest.raises(prediction_logs.NoLogsError, match='no request log'):
    prediction_logs.read(str(tmp_path / 'nothing*'))
  (tmp_path / 'garbage').write_bytes(b'\x00' * 40)
  with pytest.raises(prediction_logs.NoLogsError,
                     match='no readable PredictionLog record in 1 file'):
    prediction_logs.read(str(tmp_path))
