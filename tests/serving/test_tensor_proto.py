"""TensorProto decoding bounds and TF Serving's response encoding.

Decoding: a request's TensorProto is checked against its own content before
anything is allocated (issue 16: an 11-byte proto declaring 20,000,000
strings made the server allocate ~300 MB), and no request tensor may have
more than --max_tensor_elements elements.

Encoding: gRPC Predict responses carry values in the typed fields
(float_val, int64_val, string_val, ...), as TF Serving's AsProtoField does,
for every dtype; many clients read `outputs[k].float_val` directly.
"""

import tracemalloc

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving_helpers import call, deploy
from serving import tensor_proto


def _declared(dtype, dims, **values) -> tensor_pb2.TensorProto:
  proto = tensor_pb2.TensorProto(dtype=dtype)
  for size in dims:
    proto.tensor_shape.dim.add().size = size
  for field, value in values.items():
    if field == 'tensor_content':
      proto.tensor_content = value
    else:
      getattr(proto, field).extend(value)
  return proto


@pytest.mark.parametrize('dtype', [types_pb2.DT_STRING, types_pb2.DT_FLOAT,
                                   types_pb2.DT_INT64, types_pb2.DT_HALF,
                                   types_pb2.DT_COMPLEX64])
def test_huge_declared_shape_without_values_allocates_nothing(dtype):
  proto = _declared(dtype, [20_000_000])
  assert len(proto.SerializeToString()) < 16
  tracemalloc.start()
  try:
    with pytest.raises(tensor_proto.TensorError):
      tensor_proto.to_ndarray(proto)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  # numpy's buffers are traced too: 20,000,000 elements would be >= 20 MB
  # (DT_STRING: 160 MB of object pointers), what the proto declares is 16 B.
  assert peak < 1_000_000, peak


def test_shape_is_checked_against_the_content():
  cases = [
      _declared(types_pb2.DT_FLOAT, [-1]),
      _declared(types_pb2.DT_FLOAT, [2, -3]),
      _declared(types_pb2.DT_FLOAT, [3], float_val=[1, 2, 3, 4]),
      _declared(types_pb2.DT_FLOAT, [3], tensor_content=b'\0' * 8),
      _declared(types_pb2.DT_STRING, [2], string_val=[b'a', b'b', b'c']),
      _declared(types_pb2.DT_STRING, [1], tensor_content=b'abcd'),
      _declared(types_pb2.DT_INT32, [2 ** 40, 2 ** 40], int_val=[1]),
      _declared(types_pb2.DT_INVALID, [1]),
      # Found by the fuzzer: no elements, but numpy cannot make the shape.
      _declared(types_pb2.DT_FLOAT, [0, 2 ** 62]),
      _declared(types_pb2.DT_STRING, [2 ** 62, 0]),
      _declared(types_pb2.DT_INT8, [0, 2 ** 40], tensor_content=b''),
      _declared(1000, [1]),
  ]
  unknown = _declared(types_pb2.DT_FLOAT, [], float_val=[1.0])
  unknown.tensor_shape.unknown_rank = True
  cases.append(unknown)
  for proto in cases:
    with pytest.raises(tensor_proto.TensorError):
      tensor_proto.to_ndarray(proto)


def test_max_elements_bound():
  proto = tf.make_tensor_proto(np.zeros(11, np.float32))
  with pytest.raises(tensor_proto.TensorError, match='more than the maximum'):
    tensor_proto.to_ndarray(proto, max_elements=10)
  assert tensor_proto.to_ndarray(proto, max_elements=11).shape == (11,)


def test_tf_semantics_kept_for_normal_protos():
  # make_tensor_proto's compact forms: one value broadcast, or none = zeros.
  np.testing.assert_array_equal(
      tensor_proto.to_ndarray(tf.make_tensor_proto(1.5, shape=[5])),
      np.full(5, 1.5, np.float32))
  np.testing.assert_array_equal(
      tensor_proto.to_ndarray(_declared(types_pb2.DT_INT64, [2, 2])),
      np.zeros((2, 2), np.int64))
  for value in (np.arange(6, dtype=np.float32).reshape(2, 3),
                np.array([b'a', b'bc']), np.array(True),
                np.arange(4, dtype=np.float16),
                np.array([1 + 2j], np.complex64)):
    np.testing.assert_array_equal(
        tensor_proto.to_ndarray(tf.make_tensor_proto(value)), value)


_ALL_DTYPES = [
    (np.float32, 'float_val'), (np.float64, 'double_val'),
    (np.int32, 'int_val'), (np.int16, 'int_val'), (np.int8, 'int_val'),
    (np.uint8, 'int_val'), (np.uint16, 'int_val'), (np.int64, 'int64_val'),
    (np.uint32, 'uint32_val'), (np.uint64, 'uint64_val'),
    (np.bool_, 'bool_val'), (np.float16, 'half_val'),
    (tf.bfloat16.as_numpy_dtype, 'half_val'),
    (np.complex64, 'scomplex_val'), (np.complex128, 'dcomplex_val'),
    (object, 'string_val'),
]


@pytest.mark.parametrize('np_type,field', _ALL_DTYPES,
                         ids=[f for _, f in _ALL_DTYPES])
def test_responses_fill_typed_fields_for_every_dtype(np_type, field):
  if np_type is object:
    value = np.array([[b'a', b''], [b'\xff', b'xyz']], dtype=object)
  elif np_type is np.bool_:
    value = np.array([[True, False], [False, True]])
  elif np.dtype(np_type).kind == 'c':
    value = np.array([[1 + 2j, -3j], [0.5, 4]], dtype=np_type)
  else:
    value = np.array([[0, 1], [2, 7]]).astype(np_type)
  proto = tensor_proto.to_proto(value)
  assert not proto.tensor_content
  assert len(getattr(proto, field)) == value.size * (
      2 if field.endswith('complex_val') else 1)
  assert [d.size for d in proto.tensor_shape.dim] == [2, 2]
  expected = tf.make_tensor_proto(value if np_type is not object
                                  else value.astype(bytes))
  assert proto.dtype == expected.dtype
  decoded = tf.make_ndarray(proto)
  np.testing.assert_array_equal(decoded, tf.make_ndarray(expected))
  np.testing.assert_array_equal(tensor_proto.to_ndarray(proto), decoded)


def test_scalar_and_empty_outputs():
  proto = tensor_proto.to_proto(np.float32(2.5))
  assert list(proto.float_val) == [2.5] and not proto.tensor_shape.dim
  empty = tensor_proto.to_proto(np.zeros((0, 3), np.float32))
  assert [d.size for d in empty.tensor_shape.dim] == [0, 3]
  assert tf.make_ndarray(empty).shape == (0, 3)


# ---- over gRPC -------------------------------------------------------------


@pytest.fixture(scope='module')
def stub(conformance_server):
  with grpc.insecure_channel(
      f'127.0.0.1:{conformance_server.grpc_port}') as channel:
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _predict(signature='', **inputs):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'half_plus_two'
  request.model_spec.signature_name = signature
  for key, proto in inputs.items():
    request.inputs[key].CopyFrom(proto)
  return request


def test_grpc_outputs_in_typed_fields(stub):
  response = stub.Predict(_predict(
      x=tf.make_tensor_proto(np.array([1.0, 2.0], np.float32))), timeout=10)
  assert list(response.outputs['y'].float_val) == [2.5, 3.0]
  assert not response.outputs['y'].tensor_content
  response = stub.Predict(_predict(
      'two_inputs', x=tf.make_tensor_proto(np.array([1.0], np.float32)),
      s=tf.make_tensor_proto(np.array([b'abc']))), timeout=10)
  assert list(response.outputs['s_bytes'].string_val) == [b'abc']
  assert list(response.outputs['y'].float_val) == [2.5]


def test_grpc_huge_declared_tensor_is_refused_unallocated(stub):
  request = _predict('two_inputs',
                     x=_declared(types_pb2.DT_FLOAT, [1], float_val=[1.0]),
                     s=_declared(types_pb2.DT_STRING, [20_000_000]))
  # The server runs in this process: tracemalloc sees what its threads
  # allocate (numpy's buffers included). Issue 16: ~300 MB for this request.
  tracemalloc.start()
  try:
    with pytest.raises(grpc.RpcError) as info:
      stub.Predict(request, timeout=30)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert peak < 10_000_000, peak
  assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
  assert info.value.details().startswith('tensor parsing error: s')
  response = stub.Predict(_predict(
      x=tf.make_tensor_proto(np.array([1.0], np.float32))), timeout=10)
  assert list(response.outputs['y'].float_val) == [2.5]


def test_max_tensor_elements_flag_over_grpc_and_rest(models, tmp_path,
                                                     start_server):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  server = start_server(model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
                        max_tensor_elements=4, file_system_poll_wait_seconds=0)
  with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as channel:
    grpc_stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = _predict(x=tf.make_tensor_proto(np.ones(5, np.float32)))
    request.model_spec.name = 'hpt'
    with pytest.raises(grpc.RpcError) as info:
      grpc_stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'more than the maximum of 4 (--max_tensor_elements)' in (
        info.value.details())
    request = _predict(x=tf.make_tensor_proto(np.ones(4, np.float32)))
    request.model_spec.name = 'hpt'
    assert list(grpc_stub.Predict(request, timeout=10).outputs[
        'y'].float_val) == [2.5] * 4
  code, body = call(server.rest_port, 'POST', '/v1/models/hpt:predict',
                    {'instances': [1.0] * 5})
  assert code == 400 and 'more than the maximum of 4' in body['error'], body
  code, body = call(server.rest_port, 'POST', '/v1/models/hpt:predict',
                    {'inputs': {'x': [1.0] * 5}})
  assert code == 400 and 'more than the maximum of 4' in body['error'], body
  assert call(server.rest_port, 'POST', '/v1/models/hpt:predict',
              {'instances': [1.0] * 4}) == (200, {'predictions': [2.5] * 4})
