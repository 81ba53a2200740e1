"""Conformance of the gRPC API with TF Serving's, using the official stubs."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from serving import example_models


@pytest.fixture(scope='module')
def channel(conformance_server):
  with grpc.insecure_channel(f'127.0.0.1:{conformance_server.grpc_port}') as ch:
    yield ch


@pytest.fixture(scope='module')
def stub(channel):
  return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope='module')
def model_stub(channel):
  return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(values, name='half_plus_two', signature='', **spec):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = name
  request.model_spec.signature_name = signature
  if 'version' in spec:
    request.model_spec.version.value = spec['version']
  if 'label' in spec:
    request.model_spec.version_label = spec['label']
  for key, value in values.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  return request


def examples_input(input_proto, xs, context=None):
  container = input_proto.example_list
  if context is not None:
    container = input_proto.example_list_with_context
    container.context.CopyFrom(example_models.float_example(context))
  for x in xs:
    example = container.examples.add()
    if x is not None:
      example.CopyFrom(example_models.float_example(x))


def test_predict(stub):
  response = stub.Predict(predict_request(
      {'x': np.array([1.0, 2.0, 5.0], np.float32)}), timeout=10)
  np.testing.assert_allclose(tf.make_ndarray(response.outputs['y']),
                             [2.5, 3.0, 4.5])
  assert response.model_spec.name == 'half_plus_two'
  assert response.model_spec.version.value == 1
  assert response.model_spec.signature_name == 'serving_default'


def test_predict_output_filter_and_strings(stub):
  request = predict_request({'x': np.array([1.0], np.float32),
                             's': np.array([b'abc'])}, signature='two_inputs')
  request.output_filter.append('s_bytes')
  response = stub.Predict(request, timeout=10)
  assert list(response.outputs) == ['s_bytes']
  assert tf.make_ndarray(response.outputs['s_bytes']).tolist() == [b'abc']


def test_predict_keras_model(stub):
  response = stub.Predict(predict_request(
      {'x': np.array([4.0], np.float32)}, name='keras_half_plus_two'))
  assert tf.make_ndarray(response.outputs['y']).tolist() == [4.0]


def test_classify_regress_multi_inference(stub):
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = 'half_plus_two'
  request.model_spec.signature_name = 'classify_x_to_y'
  examples_input(request.input, [1.0, 3.0])
  response = stub.Classify(request, timeout=10)
  assert [[c.score for c in cl.classes]
          for cl in response.result.classifications] == [[2.5], [3.5]]
  assert response.model_spec.version.value == 1

  request = regression_pb2.RegressionRequest()
  request.model_spec.name = 'half_plus_two'
  request.model_spec.signature_name = 'regress_x_to_y'
  examples_input(request.input, [None, 1.0], context=5.0)
  response = stub.Regress(request, timeout=10)
  assert [r.value for r in response.result.regressions] == [4.5, 2.5]

  request = inference_pb2.MultiInferenceRequest()
  for signature, method in (('classify_x_to_y', 'tensorflow/serving/classify'),
                            ('regress_x_to_y', 'tensorflow/serving/regress')):
    task = request.tasks.add()
    task.model_spec.name = 'half_plus_two'
    task.model_spec.signature_name = signature
    task.method_name = method
  examples_input(request.input, [2.0])
  response = stub.MultiInference(request, timeout=10)
  assert response.results[0].classification_result.classifications[
      0].classes[0].score == 3.0
  assert response.results[1].regression_result.regressions[0].value == 3.0


def test_get_model_metadata(stub):
  request = get_model_metadata_pb2.GetModelMetadataRequest()
  request.model_spec.name = 'half_plus_two'
  request.metadata_field.append('signature_def')
  response = stub.GetModelMetadata(request, timeout=10)
  assert response.model_spec.version.value == 1
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  response.metadata['signature_def'].Unpack(signature_map)
  assert signature_map.signature_def['regress_x_to_y'].method_name == (
      'tensorflow/serving/regress')


def test_get_model_status(model_stub):
  request = get_model_status_pb2.GetModelStatusRequest()
  request.model_spec.name = 'half_plus_two'
  response = model_stub.GetModelStatus(request, timeout=10)
  [status] = response.model_version_status
  assert status.version == 1
  assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
  assert status.status.error_code == 0


def _error(call, request):
  with pytest.raises(grpc.RpcError) as info:
    call(request, timeout=10)
  return info.value.code(), info.value.details()


def test_errors_like_tf_serving(stub, model_stub):
  codes = grpc.StatusCode
  assert _error(stub.Predict, predict_request(
      {'x': np.array([1.0], np.float32)}, name='nope')) == (
          codes.NOT_FOUND, 'Servable not found for request: Latest(nope)')
  assert _error(stub.Predict, predict_request(
      {'x': np.array([1.0], np.float32)}, version=3)) == (
          codes.NOT_FOUND,
          'Servable not found for request: Specific(half_plus_two, 3)')
  assert _error(stub.Predict, predict_request(
      {'x': np.array([1.0], np.float32)}, label='stable')) == (
          codes.INVALID_ARGUMENT,
          'Unrecognized servable version label: stable')
  assert _error(stub.Predict, predict_request(
      {'x': np.array([1.0], np.float32)}, signature='nope')) == (
          codes.FAILED_PRECONDITION,
          'Serving signature key "nope" not found.')
  assert _error(stub.Predict, predict_request(
      {'z': np.array([1.0], np.float32)})) == (
          codes.INVALID_ARGUMENT,
          'input tensor alias not found in signature: z. Inputs expected to '
          'be in the set {x}.')
  assert _error(stub.Predict, predict_request(
      {'x': np.array([1.0], np.float32), 'z': np.array([1.0])})) == (
          codes.INVALID_ARGUMENT,
          'input size does not match signature: 2!=1 len({x,z}) != len({x}). '
          'Sent extra: {z}. Missing but required: {}.')
  assert _error(stub.Predict, predict_request(
      {'x': np.array([b'a'])})) == (
          codes.INVALID_ARGUMENT,
          'Expects arg[0] to be float but string is provided')
  assert _error(stub.Predict, predict_request(
      {'m': np.ones((2, 2), np.float32)}, signature='matrix'))[0] == (
          codes.INVALID_ARGUMENT)
  status_request = get_model_status_pb2.GetModelStatusRequest()
  status_request.model_spec.name = 'nope'
  assert _error(model_stub.GetModelStatus, status_request) == (
      codes.NOT_FOUND, 'Could not find any versions of model nope')
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = 'half_plus_two'
  request.model_spec.signature_name = 'classify_x_to_y'
  assert _error(stub.Classify, request) == (codes.INVALID_ARGUMENT,
                                            'Input is empty.')
  request = get_model_metadata_pb2.GetModelMetadataRequest()
  request.model_spec.name = 'half_plus_two'
  assert _error(stub.GetModelMetadata, request) == (
      codes.INVALID_ARGUMENT,
      'GetModelMetadataRequest must specify at least one metadata_field')


def test_corrupt_tensor_proto_is_an_error_not_a_crash(stub):
  request = predict_request({'x': np.array([1.0], np.float32)})
  request.inputs['x'].tensor_content = b'\x00\x01\x02'  # 3 bytes, not floats
  code, _ = _error(stub.Predict, request)
  assert code == grpc.StatusCode.INVALID_ARGUMENT
  response = stub.Predict(predict_request({'x': np.array([1.0], np.float32)}))
  assert tf.make_ndarray(response.outputs['y']).tolist() == [2.5]
