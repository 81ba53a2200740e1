"""TensorProto <-> numpy, as TF Serving encodes and checks them.

Encoding (`to_proto`): values go in the typed repeated fields (float_val,
int64_val, string_val, half_val, scomplex_val, ...), which is what TF
Serving's Predict writes (`Tensor::AsProtoField` in predict_util, kept "for
backward compatibility"): many clients read `outputs[k].float_val` directly,
and get an empty list from `tensor_content`. `use_tensor_content=True` gives
TF's compact `AsProtoTensorContent` form instead.

Decoding (`to_ndarray`) faces untrusted requests, so it checks the declared
shape against the proto's own content *before* allocating anything: an
11-byte proto may declare 20,000,000 elements. The rules are TF's
(Tensor::FromProto: the content must fit the shape exactly, or the typed
field may hold fewer values, the last repeated or zeros), plus two bounds:
no tensor has more than `max_elements` elements (--max_tensor_elements), and
the fill of a shape from fewer values than it holds is limited to
MAX_FILL_ELEMENTS, so the memory a request costs stays proportional to its
size on the wire.
"""

import math
from typing import Optional

import numpy as np
import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

DEFAULT_MAX_ELEMENTS = 16 * 1024 * 1024
MAX_FILL_ELEMENTS = 1024 * 1024

_BFLOAT16 = np.dtype(tf.bfloat16.as_numpy_dtype)

# DataType -> (numpy type, typed field, values per element).
_TYPES = {
    types_pb2.DT_FLOAT: (np.float32, 'float_val', 1),
    types_pb2.DT_DOUBLE: (np.float64, 'double_val', 1),
    types_pb2.DT_INT32: (np.int32, 'int_val', 1),
    types_pb2.DT_INT16: (np.int16, 'int_val', 1),
    types_pb2.DT_INT8: (np.int8, 'int_val', 1),
    types_pb2.DT_UINT8: (np.uint8, 'int_val', 1),
    types_pb2.DT_UINT16: (np.uint16, 'int_val', 1),
    types_pb2.DT_INT64: (np.int64, 'int64_val', 1),
    types_pb2.DT_UINT32: (np.uint32, 'uint32_val', 1),
    types_pb2.DT_UINT64: (np.uint64, 'uint64_val', 1),
    types_pb2.DT_BOOL: (np.bool_, 'bool_val', 1),
    types_pb2.DT_HALF: (np.float16, 'half_val', 1),
    types_pb2.DT_BFLOAT16: (_BFLOAT16, 'half_val', 1),
    types_pb2.DT_COMPLEX64: (np.complex64, 'scomplex_val', 2),
    types_pb2.DT_COMPLEX128: (np.complex128, 'dcomplex_val', 2),
    types_pb2.DT_STRING: (object, 'string_val', 1),
}
_BY_NUMPY = {np.dtype(t): enum for enum, (t, _, _) in _TYPES.items()
             if t is not object}
# How the typed field stores values that are not themselves numbers there.
_STORED_AS = {types_pb2.DT_HALF: np.uint16, types_pb2.DT_BFLOAT16: np.uint16,
              types_pb2.DT_COMPLEX64: np.float32,
              types_pb2.DT_COMPLEX128: np.float64}
_UNSUPPORTED = (types_pb2.DT_INVALID, types_pb2.DT_RESOURCE,
                types_pb2.DT_VARIANT)


class TensorError(ValueError):
  """A TensorProto that cannot be (or may not be) turned into an array."""


def _dtype_name(dtype: int) -> str:
  try:
    return types_pb2.DataType.Name(dtype)
  except ValueError:
    return str(dtype)


# ---- encoding ----------------------------------------------------------------


def to_proto(array, use_tensor_content: bool = False
             ) -> tensor_pb2.TensorProto:
  """A numpy array (or scalar) as TF Serving's AsProtoField writes it."""
  array = np.asarray(array)
  if array.dtype.kind == 'U':
    array = np.vectorize(lambda s: s.encode('utf-8'), otypes=[object])(array)
  enum = _BY_NUMPY.get(array.dtype)
  if enum is None and array.dtype.kind not in ('O', 'S'):
    return tf.make_tensor_proto(array)
  if enum is not None and use_tensor_content:
    proto = tf.make_tensor_proto(array)  # Numeric: tensor_content.
    return proto
  proto = tensor_pb2.TensorProto()
  for size in array.shape:
    proto.tensor_shape.dim.add().size = size
  if enum is None:  # Strings.
    values = array.reshape(-1).tolist()
    if not all(isinstance(v, bytes) for v in values):
      values = [v.encode('utf-8') if isinstance(v, str) else v
                for v in values]
      if not all(isinstance(v, bytes) for v in values):
        return tf.make_tensor_proto(array)
    proto.dtype = types_pb2.DT_STRING
    proto.string_val.extend(values)
    return proto
  proto.dtype = enum
  _, field, _ = _TYPES[enum]
  flat = np.ascontiguousarray(array).reshape(-1)
  stored = _STORED_AS.get(enum)
  if stored is not None:
    flat = flat.view(stored)
  getattr(proto, field).extend(flat.tolist())
  return proto


# ---- decoding ----------------------------------------------------------------


def _shape_and_size(proto, max_elements: int):
  if proto.tensor_shape.unknown_rank:
    raise TensorError('a request tensor must have a known shape')
  shape = [d.size for d in proto.tensor_shape.dim]
  if any(d < 0 for d in shape):
    raise TensorError(f'negative dimension in shape {shape}')
  size = math.prod(shape)  # Python ints: no overflow.
  # [0, 2**62] holds no element, but no array can have that shape (found by
  # the fuzzer): the non-zero dimensions are bounded too.
  if math.prod(d for d in shape if d) > max_elements and not size:
    raise TensorError(f'shape {shape} is too large')
  if size > max_elements:
    raise TensorError(
        f'tensor has {size} elements, more than the maximum of '
        f'{max_elements} (--max_tensor_elements)')
  return shape, size


def _check_fill(size: int, have: int) -> None:
  if size > MAX_FILL_ELEMENTS:
    raise TensorError(
        f'tensor declares {size} elements but carries {have} values; '
        f'filling more than {MAX_FILL_ELEMENTS} elements from fewer values '
        'is refused')


def _from_content(proto, np_type, shape, size) -> np.ndarray:
  itemsize = np.dtype(np_type).itemsize
  if len(proto.tensor_content) != size * itemsize:
    raise TensorError(
        f'tensor_content has {len(proto.tensor_content)} bytes, shape '
        f'{shape} needs {size * itemsize}')
  return np.frombuffer(proto.tensor_content, dtype=np_type).reshape(
      shape).copy()


def _from_strings(values, shape, size) -> np.ndarray:
  count = len(values)
  if count > size:
    raise TensorError(f'{count} values for shape {shape}')
  array = np.empty(size, dtype=object)
  if count == size:
    array[:] = list(values)
  else:
    _check_fill(size, count)
    array[:count] = list(values)
    array[count:] = values[count - 1] if count else b''
  return array.reshape(shape)


def _from_field(proto, enum, shape, size) -> np.ndarray:
  np_type, field, per = _TYPES[enum]
  values = getattr(proto, field)
  count = len(values)
  if count > size * per or count % per:
    raise TensorError(f'{count} values in {field} for shape {shape}')
  stored = _STORED_AS.get(enum, np_type)
  flat = np.array(values, dtype=stored)
  if stored is not np_type:
    flat = flat.view(np_type)
  if count < size * per:
    _check_fill(size, count // per)
    fill = flat[-1] if count else np.zeros((), np_type)
    flat = np.concatenate([flat, np.full(size - count // per, fill,
                                         np_type)])
  return flat.reshape(shape)


def to_ndarray(proto: tensor_pb2.TensorProto,
               max_elements: Optional[int] = None) -> np.ndarray:
  """A request TensorProto as a numpy array; TensorError if it is invalid."""
  max_elements = max_elements or DEFAULT_MAX_ELEMENTS
  dtype = proto.dtype
  if dtype in _UNSUPPORTED:
    raise TensorError(f'unsupported dtype {_dtype_name(dtype)}')
  known = _TYPES.get(dtype)
  if known is None:
    try:
      tf_type = tf.dtypes.as_dtype(dtype)
    except (TypeError, ValueError):
      raise TensorError(f'unsupported dtype {_dtype_name(dtype)}') from None
    shape, size = _shape_and_size(proto, max_elements)
    # Quantized and other rare types: TF decodes them once bounded.
    if proto.tensor_content:
      if len(proto.tensor_content) != size * tf_type.size:
        raise TensorError('tensor_content size does not match the shape')
    else:
      _check_fill(size, 0)
    try:
      return tf.make_ndarray(proto)
    except Exception as e:  # pylint: disable=broad-except
      raise TensorError(str(e).splitlines()[0] if str(e) else
                        type(e).__name__) from None
  shape, size = _shape_and_size(proto, max_elements)
  np_type = known[0]
  if proto.tensor_content:
    if np_type is object:
      raise TensorError('a DT_STRING tensor cannot use tensor_content')
    return _from_content(proto, np_type, shape, size)
  if np_type is object:
    return _from_strings(proto.string_val, shape, size)
  return _from_field(proto, dtype, shape, size)
