"""Fast TensorProto <-> numpy for the common dtypes, TF's functions otherwise.

`tf.make_tensor_proto` / `tf.make_ndarray` handle every case but cost tens of
microseconds per call; requests and responses of this server are dominated
by a few float, int and string tensors, for which building or reading the
proto directly is several times cheaper. Results are identical protos (numeric
values in `tensor_content`, strings in `string_val`).
"""

import numpy as np
import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

_NUMERIC = {
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.int16): types_pb2.DT_INT16,
    np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.bool_): types_pb2.DT_BOOL,
}
_FROM_ENUM = {v: k for k, v in _NUMERIC.items()}
# Typed repeated fields TF accepts instead of tensor_content.
_VAL_FIELDS = {
    types_pb2.DT_FLOAT: 'float_val', types_pb2.DT_DOUBLE: 'double_val',
    types_pb2.DT_INT32: 'int_val', types_pb2.DT_INT64: 'int64_val',
    types_pb2.DT_BOOL: 'bool_val',
}


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
  dtype = _NUMERIC.get(array.dtype)
  if dtype is None and array.dtype.kind not in ('O', 'S'):
    return tf.make_tensor_proto(array)
  proto = tensor_pb2.TensorProto()
  for size in array.shape:
    proto.tensor_shape.dim.add().size = size
  if dtype is not None:
    proto.dtype = dtype
    proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto
  proto.dtype = types_pb2.DT_STRING
  values = array.reshape(-1).tolist()
  if not all(isinstance(v, bytes) for v in values):
    return tf.make_tensor_proto(array)
  proto.string_val.extend(values)
  return proto


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
  shape = [d.size for d in proto.tensor_shape.dim]
  size = 1
  for d in shape:
    size *= d
  if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) == size:
    array = np.empty(size, dtype=object)
    array[:] = list(proto.string_val)
    return array.reshape(shape)
  np_type = _FROM_ENUM.get(proto.dtype)
  if np_type is not None and proto.tensor_content and not (
      proto.tensor_shape.unknown_rank):
    if len(proto.tensor_content) != size * np_type.itemsize:
      raise ValueError('tensor_content size does not match the shape')
    return np.frombuffer(proto.tensor_content, dtype=np_type).reshape(
        shape).copy()
  field = _VAL_FIELDS.get(proto.dtype)
  if field is not None and len(getattr(proto, field)) == size and size:
    return np.array(getattr(proto, field), dtype=np_type).reshape(shape)
  return tf.make_ndarray(proto)  # Broadcast scalars, half, complex, ...
