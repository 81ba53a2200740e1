"""TF Serving's JSON responses: predictions, outputs, results and errors.

Mirrors the writers of tensorflow_serving/util/json_tensor.cc: row format
answers `{"predictions": [...]}` (one object per instance when there are
several outputs), columnar answers `{"outputs": ...}`, classify and regress
answer `{"results": ...}`, failures `{"error": "..."}`. Floats are written
like TF Serving writes them so numbers compare equal across the two servers.
"""

import base64
import json
import math
from typing import Dict

import numpy as np

from serving import json_tensor
from serving import status

_BYTES_SUFFIX = '_bytes'


def format_float(value: float, dtype=np.float32) -> str:
  """%g with 6 digits, max_digits10 if that does not round-trip; '.0' added."""
  value = dtype(value)
  if math.isnan(value):
    return 'NaN'
  if math.isinf(value):
    return '-Infinity' if value < 0 else 'Infinity'
  text = '%.6g' % value
  if dtype(float(text)) != value:
    text = '%.9g' % value if dtype == np.float32 else '%.17g' % value
  if '.' not in text and 'e' not in text:
    text += '.0'
  return text


def _scalar(value, as_bytes: bool) -> str:
  if isinstance(value, (bytes, np.bytes_)):
    if not as_bytes:
      try:
        return json.dumps(value.decode('utf-8'), ensure_ascii=False)
      except UnicodeDecodeError:
        pass  # Not text: only base64 keeps the JSON valid.
    return '{"b64": "' + base64.b64encode(bytes(value)).decode('ascii') + '"}'
  if isinstance(value, str):
    return json.dumps(value, ensure_ascii=False)
  if isinstance(value, (bool, np.bool_)):
    return 'true' if value else 'false'
  if isinstance(value, (float, np.floating)):
    dtype = np.float64 if isinstance(value, np.float64) else np.float32
    return format_float(value, dtype)
  return str(int(value))


def _values(array, as_bytes: bool) -> str:
  if not isinstance(array, np.ndarray):
    return _scalar(array, as_bytes)
  if array.ndim == 0:
    return _scalar(array[()], as_bytes)
  if array.dtype.kind == 'f':
    dtype = np.float64 if array.dtype == np.float64 else np.float32
    if array.ndim == 1:
      return '[' + ', '.join(format_float(v, dtype) for v in array) + ']'
  if array.ndim == 1:
    return '[' + ', '.join(_scalar(v, as_bytes) for v in array) + ']'
  return '[' + ', '.join(_values(sub, as_bytes) for sub in array) + ']'


def _is_bytes(name: str, array: np.ndarray) -> bool:
  return array.dtype.kind in ('O', 'S') and name.endswith(_BYTES_SUFFIX)


def predictions(outputs: Dict[str, np.ndarray], fmt: str) -> str:
  """MakeJsonFromTensors: the body of a successful :predict answer."""
  if not outputs:
    raise status.invalid_argument('Cannot convert empty tensor map to JSON')
  names = sorted(outputs)
  if fmt == json_tensor.COLUMNAR:
    if len(names) == 1:
      body = _values(outputs[names[0]], _is_bytes(names[0], outputs[names[0]]))
    else:
      body = '{' + ', '.join(
          f'{json.dumps(n)}: {_values(outputs[n], _is_bytes(n, outputs[n]))}'
          for n in names) + '}'
    return '{\n    "outputs": ' + body + '\n}'
  return '{\n    "predictions": ' + rows(outputs) + '\n}'


def rows(outputs: Dict[str, np.ndarray]) -> str:
  """The row format's list: one value (or object of outputs) per row."""
  names = sorted(outputs)
  if not names:
    raise status.invalid_argument('Cannot convert empty tensor map to JSON')
  batch = 0
  for name in names:
    array = outputs[name]
    if array.ndim == 0:
      raise status.invalid_argument(
          f'Tensor name: {name} has no shape information ')
    if array.shape[0] < 1:
      raise status.invalid_argument(
          f'Tensor name: {name} has invalid batch size: {array.shape[0]}')
    if batch and array.shape[0] != batch:
      raise status.invalid_argument(
          f'Tensor name: {name} has inconsistent batch size: '
          f'{array.shape[0]} expecting: {batch}')
    batch = array.shape[0]
  if len(names) == 1:
    array = outputs[names[0]]
    as_bytes = _is_bytes(names[0], array)
    items = [_values(array[i], as_bytes) for i in range(batch)]
  else:
    items = ['{' + ', '.join(
        f'{json.dumps(n)}: {_values(outputs[n][i], _is_bytes(n, outputs[n]))}'
        for n in names) + '}' for i in range(batch)]
  return '[' + ', '.join(items) + ']'


def classification_results(result) -> str:
  if not result.classifications:
    raise status.invalid_argument(
        'Cannot convert empty ClassificationResults to JSON')
  rows = []
  for classifications in result.classifications:
    rows.append('[' + ', '.join(
        f'[{json.dumps(c.label, ensure_ascii=False)}, '
        f'{format_float(c.score)}]' for c in classifications.classes) + ']')
  return '{\n    "results": [' + ', '.join(rows) + ']\n}'


def regression_results(result) -> str:
  if not result.regressions:
    raise status.invalid_argument(
        'Cannot convert empty RegressionResults to JSON')
  return '{\n    "results": [' + ', '.join(
      format_float(r.value) for r in result.regressions) + ']\n}'


def error(message: str) -> str:
  """{ "error": "<message>" } (TF Serving C-escapes; JSON escaping suffices)."""
  return '{ "error": ' + json.dumps(message, ensure_ascii=False) + ' }'
