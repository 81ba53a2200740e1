"""gRPC resource bounds: message size via --grpc_channel_arguments, and at
most 4 x --grpc_max_threads RPCs in flight (the rest RESOURCE_EXHAUSTED)."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving_helpers import deploy, wait_for, write_gate_model


def _request(name, key, values):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = name
  request.inputs[key].CopyFrom(tf.make_tensor_proto(values))
  return request


def test_channel_arguments_set_the_message_size(models, tmp_path,
                                                start_server):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  server = start_server(
      model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
      grpc_channel_arguments='grpc.max_receive_message_length=65536',
      file_system_poll_wait_seconds=0)
  with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
      stub.Predict(_request('hpt', 'x', np.ones(100_000, np.float32)),
                   timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    response = stub.Predict(_request('hpt', 'x', np.ones(10, np.float32)),
                            timeout=10)
    assert list(response.outputs['y'].float_val) == [2.5] * 10


def test_bad_channel_arguments_are_a_clear_error(models, tmp_path,
                                                 start_server):
  from serving import status  # pylint: disable=g-import-not-at-top
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  with pytest.raises(status.ServingError, match='grpc_channel_arguments'):
    start_server(model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
                 grpc_channel_arguments='no_equals_sign')


def _code(future) -> str:
  try:
    future.result()
    return 'OK'
  except grpc.RpcError as e:
    return e.code().name


def test_rpcs_in_flight_are_bounded(tmp_path, start_server):
  # Each call waits in the model until the test creates the gate file, so
  # none finishes while the 12 arrive: whatever the machine's speed, the
  # first 4 (4 x 1 thread: 1 running, 3 queued) are in flight and every
  # later one is refused.
  write_gate_model(str(tmp_path / 'gate'), 1)
  server = start_server(model_name='gate',
                        model_base_path=str(tmp_path / 'gate'),
                        grpc_max_threads=1, file_system_poll_wait_seconds=0)
  gate = str(tmp_path / 'open')
  request = _request('gate', 'gate', np.array([gate.encode()]))
  with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      futures = [stub.Predict.future(request, timeout=120) for _ in range(12)]
      wait_for(lambda: sum(f.done() for f in futures) >= 8, timeout=60)
      refused = [_code(f) for f in futures if f.done()]
      assert refused == ['RESOURCE_EXHAUSTED'] * 8, refused
    finally:
      open(gate, 'w').close()
    codes = [_code(f) for f in futures]
  assert sorted(codes) == ['OK'] * 4 + ['RESOURCE_EXHAUSTED'] * 8, codes
