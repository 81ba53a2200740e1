"""Request logging (logging_config): PredictionLog TFRecords, TF Serving's way.

Real servers on loopback; the files are read back with TensorFlow's own
tf.data.TFRecordDataset and parsed as tensorflow.serving.PredictionLog.
"""

import glob
import logging
import math
import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from serving import example_models
from serving import request_logger
from serving import server_config
from serving import status

import small_filesystem
from serving_helpers import HOST, call, deploy

MODEL = 'half_plus_two'


def read_logs(prefix):
  """Every record of the files beginning with `prefix`, in file order."""
  logs = []
  for path in sorted(glob.glob(glob.escape(prefix) + '*')):
    for record in tf.data.TFRecordDataset(path):
      log = prediction_log_pb2.PredictionLog()
      log.ParseFromString(record.numpy())
      logs.append(log)
  return logs


def _config(tmp_path, models, name='models.config'):
  path = tmp_path / name
  server_config.write_model_server_config(str(path), models)
  return str(path)


@pytest.fixture
def logged_server(models, tmp_path, start_server):
  """half_plus_two v1 logging every request to tmp/logs/hpt*."""

  def start(sampling_rate=1.0, extra_models=(), **options):
    deploy(models['hpt_v1'], tmp_path / MODEL, 1)
    prefix = str(tmp_path / 'logs' / 'hpt')
    specs = [{'name': MODEL, 'base_path': str(tmp_path / MODEL),
              'logging': {'filename_prefix': prefix,
                          'sampling_rate': sampling_rate}}]
    specs += list(extra_models)
    monitoring = tmp_path / 'monitoring.config'
    monitoring.write_text('prometheus_config { enable: true }\n')
    server = start_server(model_config_file=_config(tmp_path, specs),
                          monitoring_config_file=str(monitoring),
                          file_system_poll_wait_seconds=0, **options)
    return server, prefix

  return start


def _stub(server):
  channel = grpc.insecure_channel(f'{HOST}:{server.grpc_port}')
  return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _predict_request(values, signature='serving_default'):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = MODEL
  request.model_spec.signature_name = signature
  request.inputs['x'].CopyFrom(tf.make_tensor_proto(
      np.array(values, np.float32)))
  return request


def _examples_input(proto_input, values):
  for value in values:
    proto_input.example_list.examples.add().CopyFrom(
        example_models.float_example(value))


def _flush(server):
  assert server.core.request_logger.flush(timeout=30)


def test_every_method_over_grpc_and_rest_round_trips(logged_server):
  server, prefix = logged_server()
  stub = _stub(server)
  sent = []
  predict = _predict_request([1.0, 2.0])
  sent.append(('predict_log', predict, stub.Predict(predict)))
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = MODEL
  classify.model_spec.signature_name = 'classify_x_to_y'
  _examples_input(classify.input, [3.0])
  sent.append(('classify_log', classify, stub.Classify(classify)))
  regress = regression_pb2.RegressionRequest()
  regress.model_spec.name = MODEL
  regress.model_spec.signature_name = 'regress_x_to_y'
  _examples_input(regress.input, [4.0, 5.0])
  sent.append(('regress_log', regress, stub.Regress(regress)))
  multi = inference_pb2.MultiInferenceRequest()
  for signature, method in (('classify_x_to_y', 'tensorflow/serving/classify'),
                            ('regress_x_to_y', 'tensorflow/serving/regress')):
    task = multi.tasks.add()
    task.model_spec.name = MODEL
    task.model_spec.signature_name = signature
    task.method_name = method
  _examples_input(multi.input, [6.0])
  sent.append(('multi_inference_log', multi, stub.MultiInference(multi)))
  # A failed call is not logged (TF Serving logs successful ones only).
  with pytest.raises(grpc.RpcError):
    stub.Predict(_predict_request([1.0], signature='nope'))

  port = server.rest_port
  base = f'/v1/models/{MODEL}'
  assert call(port, 'POST', base + ':predict',
              {'instances': [7.0, 8.0]}) == (200, {'predictions': [5.5, 6.0]})
  assert call(port, 'POST', base + ':classify', {
      'signature_name': 'classify_x_to_y', 'examples': [{'x': 9.0}]})[0] == 200
  assert call(port, 'POST', base + '/versions/1:regress', {
      'signature_name': 'regress_x_to_y', 'examples': [{'x': 10.0}]})[0] == 200
  _flush(server)

  logs = read_logs(prefix)
  kinds = [log.WhichOneof('log_type') for log in logs]
  # Warmup replays (hpt_v1 has a warmup file) are not logged either.
  assert kinds == ['predict_log', 'classify_log', 'regress_log',
                   'multi_inference_log', 'predict_log', 'classify_log',
                   'regress_log']
  for log, (kind, request, response) in zip(logs, sent):
    entry = getattr(log, kind)
    assert entry.request == request
    assert entry.response == response
  signatures = [log.log_metadata.model_spec.signature_name for log in logs]
  assert signatures == ['serving_default', 'classify_x_to_y', 'regress_x_to_y',
                        '', 'serving_default', 'classify_x_to_y',
                        'regress_x_to_y']
  for log in logs:
    metadata = log.log_metadata
    assert metadata.model_spec.name == MODEL
    assert metadata.model_spec.version.value == 1
    assert metadata.sampling_config.sampling_rate == 1.0
    assert list(metadata.saved_model_tags) == ['serve']
    assert abs(metadata.timestamp_secs - time.time()) < 300
  rest_predict = logs[4].predict_log
  np.testing.assert_allclose(tf.make_ndarray(rest_predict.request.inputs['x']),
                             [7.0, 8.0])
  np.testing.assert_allclose(
      tf.make_ndarray(rest_predict.response.outputs['y']), [5.5, 6.0])
  assert rest_predict.request.model_spec.name == MODEL
  assert [c.score for c in logs[5].classify_log.response.result
          .classifications[0].classes] == [6.5]
  assert logs[6].regress_log.request.model_spec.version.value == 1
  assert [r.value for r in
          logs[6].regress_log.response.result.regressions] == [7.0]
  metrics = call(port, 'GET', '/monitoring/prometheus/metrics', raw=True)[1]
  assert (':tensorflow:serving:request_log_written_count{model_name='
          '"half_plus_two"} 7') in metrics


def test_sampling_rate_within_binomial_bounds(logged_server, models, tmp_path):
  deploy(models['hpt_v2'], tmp_path / 'never', 2)
  never_prefix = str(tmp_path / 'logs' / 'never')
  rate, n = 0.3, 400
  server, prefix = logged_server(rate, extra_models=[{
      'name': 'never', 'base_path': str(tmp_path / 'never'),
      'logging': {'filename_prefix': never_prefix, 'sampling_rate': 0.0}}])
  stub = _stub(server)
  for i in range(n):
    stub.Predict(_predict_request([float(i)]))
    never = _predict_request([float(i)])
    never.model_spec.name = 'never'
    stub.Predict(never)
  _flush(server)
  logged = read_logs(prefix)
  # Binomial(n, rate): mean 120, sd 9.2; +-5 sd fails by chance ~6e-7.
  mean, sd = n * rate, math.sqrt(n * rate * (1 - rate))
  assert mean - 5 * sd <= len(logged) <= mean + 5 * sd, len(logged)
  assert all(log.log_metadata.sampling_config.sampling_rate ==
             pytest.approx(rate) for log in logged)
  # Each sampled record is a distinct request, in the order sent.
  xs = [float(tf.make_ndarray(log.predict_log.request.inputs['x'])[0])
        for log in logged]
  assert xs == sorted(set(xs))
  assert read_logs(never_prefix) == [] and not glob.glob(never_prefix + '*')


def test_rotation_by_size_loses_nothing(logged_server):
  max_bytes = 2000
  server, prefix = logged_server(request_log_max_file_bytes=max_bytes)
  stub = _stub(server)
  n = 120
  for i in range(n):
    stub.Predict(_predict_request([float(i)]))
  _flush(server)
  files = sorted(glob.glob(prefix + '*'))
  assert len(files) >= 5
  assert all(os.path.basename(f).startswith('hpt-') and
             f.endswith('.tfrecord') for f in files)
  record_bytes = len(read_logs(prefix)[0].SerializeToString()) + 16
  for path in files:
    assert os.path.getsize(path) < max_bytes + record_bytes
  xs = [float(tf.make_ndarray(log.predict_log.request.inputs['x'])[0])
        for log in read_logs(prefix)]
  assert xs == [float(i) for i in range(n)]  # None lost, none doubled.


def test_full_queue_drops_and_counts_instead_of_blocking(logged_server):
  server, prefix = logged_server(request_log_queue_size=4)
  collector, = server.core.request_logger.collectors()
  collector.resume.clear()  # The writer now holds what it takes: a slow disk.
  stub = _stub(server)
  n = 30
  # Requests never wait for the writer: all 30 are answered while it holds
  # its record and writes nothing. Nothing sets `resume` before the loop
  # ends, so a request that waited would fail DEADLINE_EXCEEDED at 60 s.
  for i in range(n):
    response = stub.Predict(_predict_request([float(i)]), timeout=60)
    assert list(response.outputs['y'].float_val) == [0.5 * i + 2]
  assert collector.written == 0
  accepted = n - collector.dropped
  assert accepted in (4, 5), accepted  # The queue, plus the one held.
  metrics = call(server.rest_port, 'GET', '/monitoring/prometheus/metrics',
                 raw=True)[1]
  assert (':tensorflow:serving:request_log_dropped_count{model_name='
          f'"half_plus_two",reason="queue_full"}} {n - accepted}') in metrics
  collector.resume.set()
  _flush(server)
  assert len(read_logs(prefix)) == accepted == collector.written


def test_unknown_collector_type_is_a_config_error(models, tmp_path,
                                                  start_server):
  deploy(models['hpt_v1'], tmp_path / MODEL, 1)
  spec = {'name': MODEL, 'base_path': str(tmp_path / MODEL),
          'logging': {'type': 'kafka',
                      'filename_prefix': str(tmp_path / 'logs' / 'x')}}
  with pytest.raises(status.ServingError) as info:
    start_server(model_config_file=_config(tmp_path, [spec]),
                 file_system_poll_wait_seconds=0)
  assert info.value.code == status.NOT_FOUND
  assert info.value.message == (
      'Cannot find LogCollector::Factory for type: kafka')


def test_bad_config_on_reload_is_rejected_and_logging_goes_on(
    logged_server, tmp_path):
  server, prefix = logged_server()
  before = server.core.request_logger.collectors()
  bad = server_config.read_model_server_config(
      server.options.model_config_file)
  bad.model_config_list.config[0].logging_config.log_collector_config.type = (
      'nope')
  with pytest.raises(status.ServingError, match='for type: nope'):
    server.core.reload_config(bad)
  relative = server_config.read_model_server_config(
      server.options.model_config_file)
  relative.model_config_list.config[0].logging_config.log_collector_config\
      .filename_prefix = 'relative/prefix'
  with pytest.raises(status.ServingError, match='must be absolute'):
    server.core.reload_config(relative)
  # The same logging_config again keeps its logger and its open file.
  same = server_config.read_model_server_config(
      server.options.model_config_file)
  server.core.reload_config(same)
  assert server.core.request_logger.collectors() == before
  _stub(server).Predict(_predict_request([1.0]))
  _flush(server)
  assert len(read_logs(prefix)) == 1
  # Dropping the logging_config stops logging (and closes the file).
  same.model_config_list.config[0].ClearField('logging_config')
  server.core.reload_config(same)
  assert server.core.request_logger.collectors() == []
  _stub(server).Predict(_predict_request([2.0]))
  assert len(read_logs(prefix)) == 1


def test_log_file_names_sort_in_start_order(tmp_path):
  prefix = str(tmp_path / 'p')
  names = [request_logger.log_file_name(prefix, 3, seq, now=1.7e9 + seq)
           for seq in range(3)]
  assert names == sorted(names)
  assert names[0] == (f'{prefix}-20231114T221320.000000Z-{os.getpid()}-3-'
                      '00000.tfrecord')
  assert request_logger.log_file_name(str(tmp_path) + '/', 0, 0, now=0.0) == (
      f'{tmp_path}/19700101T000000.000000Z-{os.getpid()}-0-00000.tfrecord')


def _dropped_write_errors(server):
  return server.metrics.request_log_dropped.value(MODEL, 'write_error')


def test_full_log_disk_costs_no_request_no_file_and_one_line_a_minute(
    logged_server, tmp_path, caplog):
  """The log folder on a 256 KiB tmpfs the test fills, then frees."""
  caplog.set_level(logging.WARNING)
  with small_filesystem.mounted(tmp_path / 'logs', 256 * 1024) as disk:
    server, prefix = logged_server(request_log_write_retry_ms=100)
    stub = _stub(server)
    for i in range(5):
      stub.Predict(_predict_request([float(i)]))
    _flush(server)
    assert len(read_logs(prefix)) == 5
    filler = small_filesystem.fill(disk)
    files_when_full = sorted(glob.glob(prefix + '*'))
    started = time.monotonic()
    n = 300
    for i in range(5, 5 + n):
      response = stub.Predict(_predict_request([float(i)]), timeout=60)
      assert list(response.outputs['y'].float_val) == [0.5 * i + 2]
    port = server.rest_port
    for i in range(5 + n, 5 + 2 * n):  # REST too.
      assert call(port, 'POST', f'/v1/models/{MODEL}:predict',
                  {'instances': [float(i)]}) == (
                      200, {'predictions': [0.5 * i + 2]})
    _flush(server)
    elapsed = time.monotonic() - started
    # No file created, and the open one cut back to what was flushed.
    assert sorted(glob.glob(prefix + '*')) == files_when_full
    logged = read_logs(prefix)
    assert len(logged) < 5 + 2 * n
    assert _dropped_write_errors(server) == 5 + 2 * n - len(logged)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING and
             r.getMessage().startswith(f'Request log {prefix}:')]
    assert 1 <= len(lines) <= 1 + elapsed // 60, [
        r.getMessage() for r in lines]

    # Room again: within the back-off (100 ms, doubled per failed retry)
    # logging resumes, in a new file.
    os.remove(filler)
    sent = 5 + 2 * n
    deadline = time.monotonic() + 300
    while len(read_logs(prefix)) == len(logged):
      assert time.monotonic() < deadline, 'logging never resumed'
      stub.Predict(_predict_request([float(sent)]))
      sent += 1
      _flush(server)
      time.sleep(0.05)
    resumed = read_logs(prefix)[len(logged):]
    assert len(resumed) == 1
    assert tf.make_ndarray(
        resumed[0].predict_log.request.inputs['x']).tolist() == [sent - 1]
    assert len(glob.glob(prefix + '*')) == len(files_when_full) + 1
    assert _dropped_write_errors(server) == sent - len(logged) - 1
    metrics = call(port, 'GET', '/monitoring/prometheus/metrics', raw=True)[1]
    assert (':tensorflow:serving:request_log_dropped_count{model_name='
            f'"{MODEL}",reason="write_error"}} {sent - len(logged) - 1}'
            ) in metrics
    server.stop()  # Before the unmount, which is lazy but still.
