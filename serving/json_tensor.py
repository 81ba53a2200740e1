"""TF Serving's JSON formats <-> tensors (numpy arrays) and result protos.

Mirrors tensorflow_serving/util/json_tensor.cc: the row (`instances`) and
columnar (`inputs`) predict formats, `{"b64": ...}` binary strings, the
`_bytes` output-name convention, tf.Example JSON for classify/regress,
float formatting (shortest of %g and max_digits10 that round-trips, `.0` on
whole numbers, NaN/Infinity) and the error messages clients see.
"""

import base64
import binascii
import json
import math
import re
from typing import Dict, List, Mapping, Tuple

import numpy as np
from tensorflow.core.framework import types_pb2

from serving import status

ROW, COLUMNAR = 'row', 'columnar'
DEFAULT_MAX_ELEMENTS = 16 * 1024 * 1024  # = tensor_proto's; no TF import.
_LONG_NUMBER = re.compile(r'-?\d{4301,}')
_MAX_ERROR_JSON = 2048

# tensorflow::DataTypeString names and numpy types of supported dtypes.
_DTYPES = {
    types_pb2.DT_FLOAT: ('float', np.float32),
    types_pb2.DT_DOUBLE: ('double', np.float64),
    types_pb2.DT_INT32: ('int32', np.int32),
    types_pb2.DT_INT16: ('int16', np.int16),
    types_pb2.DT_INT8: ('int8', np.int8),
    types_pb2.DT_UINT8: ('uint8', np.uint8),
    types_pb2.DT_STRING: ('string', object),
    types_pb2.DT_INT64: ('int64', np.int64),
    types_pb2.DT_BOOL: ('bool', np.bool_),
    types_pb2.DT_UINT32: ('uint32', np.uint32),
    types_pb2.DT_UINT64: ('uint64', np.uint64),
}
_INT_RANGES = {
    types_pb2.DT_INT32: (-2**31, 2**31 - 1),
    types_pb2.DT_INT16: (-2**15, 2**15 - 1),
    types_pb2.DT_INT8: (-2**7, 2**7 - 1),
    types_pb2.DT_UINT8: (0, 2**8 - 1),
    types_pb2.DT_INT64: (-2**63, 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}

_PARSE_MESSAGES = (
    ('Expecting value', 'Invalid value.'),
    ('Expecting property name', 'Missing a name for object member.'),
    ("Expecting ':' delimiter", 'Missing a colon after a name of object '
                                'member.'),
    ("Expecting ',' delimiter", "Missing a comma or ']' after an array "
                                'element.'),
    ('Unterminated string', 'Missing a closing quotation mark in string.'),
    ('Extra data', 'The document root must not be followed by other values.'),
    ('Invalid control character', 'Invalid encoding in string.'),
    ('Invalid \\escape', 'Invalid escape character in string.'),
)


def dtype_string(dtype: int) -> str:
  return _DTYPES.get(dtype, (types_pb2.DataType.Name(dtype)[3:].lower(),))[0]


def json_text(value) -> str:
  try:
    text = json.dumps(value, separators=(',', ':'), ensure_ascii=False)
  except (TypeError, ValueError):
    text = str(value)
  return text if len(text) <= _MAX_ERROR_JSON else (
      text[:_MAX_ERROR_JSON] + '...')


def json_type(value) -> str:
  if value is None:
    return 'Null'
  if value is True:
    return 'True'
  if value is False:
    return 'False'
  if isinstance(value, dict):
    return 'Object'
  if isinstance(value, list):
    return 'Array'
  if isinstance(value, str):
    return 'String'
  return 'Number'


def parse_json(body: bytes) -> dict:
  """Parses a request body; errors read like rapidjson's (via TF Serving)."""
  if not body or not body.strip():
    raise status.invalid_argument('JSON Parse error: The document is empty')
  try:
    text = body.decode('utf-8')
  except UnicodeDecodeError as e:
    raise status.invalid_argument(
        f'JSON Parse error: Invalid encoding in string. at offset: {e.start}'
    ) from None
  try:
    doc = json.loads(text)
  except json.JSONDecodeError as e:
    message = next((m for prefix, m in _PARSE_MESSAGES
                    if e.msg.startswith(prefix)), e.msg)
    raise status.invalid_argument(
        f'JSON Parse error: {message} at offset: {e.pos}') from None
  except RecursionError:
    raise status.invalid_argument(
        'JSON Parse error: Nesting too deep.') from None
  except ValueError:
    # An integer of more than sys.get_int_max_str_digits() (4300) digits:
    # rapidjson (TF Serving) cannot hold it either.
    match = _LONG_NUMBER.search(text)
    offset = f' at offset: {match.start()}' if match else ''
    raise status.invalid_argument(
        f'JSON Parse error: Number too big to be stored in double.{offset}'
    ) from None
  if not isinstance(doc, dict):
    raise status.invalid_argument(f'JSON Value: {json_text(doc)} Is not object')
  return doc


def format_error(doc, *parts: str) -> status.ServingError:
  return status.invalid_argument(f'JSON Value: {json_text(doc)} '
                                 + ''.join(parts))


def signature_name(doc: dict) -> str:
  value = doc.get('signature_name', '')
  if not isinstance(value, str):
    raise status.invalid_argument(
        f'JSON Value: {json_text(doc)} not formatted correctly. '
        "'signature_name' key must be a string value.")
  return value


# ---- predict requests --------------------------------------------------------


def is_b64(value) -> bool:
  return (isinstance(value, dict) and len(value) == 1 and
          isinstance(value.get('b64'), str))


def decode_b64(value) -> bytes:
  if not is_b64(value):
    raise status.invalid_argument(
        f'JSON Value: {json_text(value)} not formatted correctly for base64 '
        'data')
  try:
    return base64.b64decode(value['b64'], validate=True)
  except (binascii.Error, ValueError):
    raise status.invalid_argument('Unable to base64 decode') from None


def _type_error(value, dtype: int) -> status.ServingError:
  return status.invalid_argument(
      f'JSON Value: {json_text(value)} Type: {json_type(value)} is not of '
      f'expected type: {dtype_string(dtype)}')


def _convert(value, dtype: int):
  """One JSON leaf -> a Python value of `dtype` (AddValueToTensor)."""
  is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
  if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
    if not is_number:
      raise _type_error(value, dtype)
    target = 'float' if dtype == types_pb2.DT_FLOAT else 'double'
    digits, limit = ((24, 3.4028234663852886e38) if target == 'float'
                     else (53, 1.7976931348623157e308))
    lossy = (abs(value) > 2**digits - 1 if isinstance(value, int) else
             math.isfinite(value) and abs(value) > limit)
    if lossy:
      raise status.invalid_argument(
          f'Cannot convert JSON value: {json_text(value)} to {target} '
          'without loss of precision.')
    return float(value)
  if dtype in _INT_RANGES:
    low, high = _INT_RANGES[dtype]
    if not (isinstance(value, int) and not isinstance(value, bool)
            and low <= value <= high):
      raise _type_error(value, dtype)
    return value
  if dtype == types_pb2.DT_STRING:
    if isinstance(value, dict):
      return decode_b64(value)
    if not isinstance(value, str):
      raise _type_error(value, dtype)
    return value.encode('utf-8')
  if dtype == types_pb2.DT_BOOL:
    if not isinstance(value, bool):
      raise _type_error(value, dtype)
    return value
  raise status.ServingError(
      status.UNIMPLEMENTED, f'Conversion of JSON Value: {json_text(value)} '
      f'to type: {dtype_string(dtype)}')


def _dense_shape(value) -> List[int]:
  shape = []
  while isinstance(value, list):
    shape.append(len(value))
    if not value:
      break
    value = value[0]
  return shape


def _fill(value, level: int, shape: List[int], dtype: int, out: list) -> None:
  if not isinstance(value, list):
    if level != len(shape):
      raise status.invalid_argument(
          f'JSON Value: {json_text(value)} found at incorrect level: '
          f'{level + 1} in the JSON DOM. Expected at level: {len(shape)}')
    if isinstance(value, dict) and dtype != types_pb2.DT_STRING:
      raise _type_error(value, dtype)
    out.append(_convert(value, dtype))
    return
  if level >= len(shape):
    raise status.invalid_argument(
        f'Encountered list at unexpected level: {level} expected < '
        f'{len(shape)}')
  if len(value) != shape[level]:
    raise status.invalid_argument(
        f'Encountered list at unexpected size: {len(value)} at level: '
        f'{level} expected size: {shape[level]}')
  for item in value:
    _fill(item, level + 1, shape, dtype, out)


def _flat(value, dtype: int) -> Tuple[list, List[int]]:
  """A JSON value -> (flat converted leaves, dense shape)."""
  if not isinstance(value, list):  # Fast path: a scalar (or b64) leaf.
    if isinstance(value, dict) and dtype != types_pb2.DT_STRING:
      raise _type_error(value, dtype)
    return [_convert(value, dtype)], []
  shape = _dense_shape(value)
  flat: list = []
  _fill(value, 0, shape, dtype, flat)
  return flat, shape


def _array(flat: list, shape: List[int], dtype: int) -> np.ndarray:
  np_type = _DTYPES.get(dtype, (None, object))[1]
  if np_type is object:  # Leaves are bytes: numpy keeps each whole.
    if len(flat) == 1:  # One row's string (2x cheaper this way).
      array = np.empty(1, dtype=object)
      array[0] = flat[0]
    else:
      array = np.array(flat, dtype=object)
  else:
    array = np.array(flat, dtype=np_type)
  if len(shape) == 1 and shape[0] == len(flat):
    return array  # Already this shape (a row per instance).
  return array.reshape(shape)


def _check_size(name: str, count: int, max_elements: int) -> None:
  if count > max_elements:
    raise status.invalid_argument(
        f'Input {name} has {count} elements, more than the maximum of '
        f'{max_elements} (--max_tensor_elements)')


def _to_array(value, dtype: int, name: str = '',
              max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
  flat, shape = _flat(value, dtype)
  _check_size(name, len(flat), max_elements)
  return _array(flat, shape, dtype)


def _shape_text(shape) -> str:
  return '[' + ','.join(str(d) for d in shape) + ']'


_DT_STRING = types_pb2.DT_STRING
_SCALAR: List[int] = []


def _instances(items: list, infos: Mapping[str, int],
               max_elements: int = DEFAULT_MAX_ELEMENTS
               ) -> Dict[str, np.ndarray]:
  """FillTensorMapFromInstancesList: row format -> batched tensors."""
  first = items[0]
  if (not isinstance(first, dict) or is_b64(first)) and len(infos) > 1:
    raise status.invalid_argument(
        'instances is a plain list, but expecting list of objects as multiple '
        'input tensors required as per tensorinfo_map')
  as_objects = isinstance(first, dict) and not is_b64(first)
  names = sorted(infos)
  flats: Dict[str, list] = {name: [] for name in names}
  shapes: Dict[str, List[int]] = {}
  for index, item in enumerate(items):
    if as_objects:
      if not isinstance(item, dict) or is_b64(item):
        raise status.invalid_argument(
            f'Expecting object but got list at item {index} of input list')
      pairs = item.items()
    else:
      if isinstance(item, dict) and not is_b64(item):
        raise status.invalid_argument(
            f'Expecting value/list but got object at item {index} of input '
            'list')
      pairs = ((names[0], item),)
    for name, value in pairs:
      if type(value) is str and infos.get(name) == _DT_STRING and (  # pylint: disable=unidiomatic-typecheck
          shapes.setdefault(name, _SCALAR) == _SCALAR):
        # The common leaf (a string for a string input, as every row so
        # far), without the general path's checks, which it passes.
        flat = flats[name]
        flat.append(value.encode('utf-8'))
        if len(flat) > max_elements:
          _check_size(name, len(flat), max_elements)
        continue
      try:
        dtype = infos.get(name)
        if dtype is None:
          raise status.invalid_argument(
              f'JSON object: does not have named input: {name}')
        flat, shape = _flat(value, dtype)
        expected = shapes.setdefault(name, shape)
        if expected != shape:
          if math.prod(expected) != math.prod(shape):
            raise status.invalid_argument(
                f'Expecting tensor size: {math.prod(expected)} but got: '
                f'{math.prod(shape)}')
          raise status.invalid_argument(
              f'Expecting shape {_shape_text(expected)} but got: '
              f'{_shape_text(shape)}')
      except status.ServingError as e:
        where = f'{index} key: {name}' if as_objects else str(index)
        raise status.invalid_argument(
            f"Failed to process element: {where} of 'instances' list. "
            f'Error: {e.to_string()}') from None
      flats[name].extend(flat)
      _check_size(name, len(flats[name]), max_elements)
    if as_objects and len(item) != len(infos):
      raise status.invalid_argument(
          f"Failed to process element: {index} of 'instances' list. JSON "
          f'object: {json_text(item)} must only have keys: {",".join(names)}')
  return {name: _array(flats[name], [len(items)] + shapes.get(name, []),
                       infos[name]) for name in names}


def _inputs(value, infos: Mapping[str, int],
            max_elements: int = DEFAULT_MAX_ELEMENTS
            ) -> Dict[str, np.ndarray]:
  """FillTensorMapFromInputsMap: columnar format -> tensors."""
  if not isinstance(value, dict) or is_b64(value):
    if len(infos) > 1:
      raise status.invalid_argument(
          'inputs is a plain value/list, but expecting an object as multiple '
          'input tensors required as per tensorinfo_map')
    name = next(iter(infos))
    return {name: _to_array(value, infos[name], name, max_elements)}
  tensors = {}
  for name in sorted(infos):
    if name not in value:
      raise status.invalid_argument(
          f"Missing named input: {name} in 'inputs' object.")
    tensors[name] = _to_array(value[name], infos[name], name, max_elements)
  return tensors


def predict_inputs(doc: dict, infos: Mapping[str, int],
                   max_elements: int = DEFAULT_MAX_ELEMENTS
                   ) -> Tuple[Dict[str, np.ndarray], str]:
  """The input tensors of a predict request and its format (ROW/COLUMNAR).

  Args:
    doc: the parsed request body.
    infos: input alias -> DataType of the requested signature.
    max_elements: --max_tensor_elements; a larger input is INVALID_ARGUMENT.
  """
  if not infos:
    raise status.invalid_argument(
        'Failed to get input map for signature: '
        f'{signature_name(doc) or "DEFAULT"}')
  has_instances, has_inputs = 'instances' in doc, 'inputs' in doc
  if has_instances and has_inputs:
    raise format_error(doc, "Not formatted correctly expecting only one of "
                        "'inputs' or 'instances' keys to exist ")
  try:
    if has_instances:
      items = doc['instances']
      if not isinstance(items, list):
        raise format_error(doc, "Excepting 'instances' to be an list/array")
      if not items:
        raise format_error(doc, "No values in 'instances' array")
      return _instances(items, infos, max_elements), ROW
    if has_inputs:
      return _inputs(doc['inputs'], infos, max_elements), COLUMNAR
  except RecursionError:
    raise status.invalid_argument('JSON value is nested too deeply') from None
  raise status.invalid_argument("Missing 'inputs' or 'instances' key")
