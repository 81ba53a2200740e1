"""TF Serving's JSON for :classify and :regress requests -> request protos.

`{"signature_name": ..., "context": {...}, "examples": [{...}, ...]}` where
each example maps feature names to a value or a list: strings and
`{"b64": ...}` become bytes_list, numbers with a fraction or exponent
float_list, other numbers (and booleans) int64_list. Mirrors
FillClassificationRequestFromJson / FillRegressionRequestFromJson.
"""

from tensorflow.core.example import example_pb2

from serving import json_tensor
from serving import status

_KIND_NAMES = {'bytes_list': 'bytes', 'float_list': 'float',
               'int64_list': 'int64', None: 'UNKNOWN'}


def _kind_error(name: str, feature) -> status.ServingError:
  kind = _KIND_NAMES[feature.WhichOneof('kind')]
  return status.invalid_argument(
      f'Unexpected element type in feature: {name} expecting type: {kind}')


def _add_value(value, name: str, feature, is_float: bool) -> None:
  kind = feature.WhichOneof('kind')

  def require(wanted):
    if kind not in (None, wanted):
      raise _kind_error(name, feature)

  if value is None or isinstance(value, list) or (
      isinstance(value, dict) and not json_tensor.is_b64(value)):
    raise status.invalid_argument(
        f'Feature: {name} has element with unexpected JSON type: '
        f'{json_tensor.json_type(value)}')
  if isinstance(value, bool):
    require('int64_list')
    feature.int64_list.value.append(1 if value else 0)
  elif isinstance(value, dict):
    require('bytes_list')
    feature.bytes_list.value.append(json_tensor.decode_b64(value))
  elif isinstance(value, str):
    require('bytes_list')
    feature.bytes_list.value.append(value.encode('utf-8'))
  elif is_float or isinstance(value, float):
    require('float_list')
    if abs(value) > 3.4028234663852886e38 and abs(value) != float('inf'):
      raise status.invalid_argument(
          f'Cannot convert JSON value: {value} to float without loss of '
          'precision.')
    feature.float_list.value.append(float(value))
  else:
    require('int64_list')
    if value > 2**63 - 1:
      raise status.invalid_argument(
          f'Feature: {name} has uint64 element. Only int64 is supported.')
    if value < -2**63:
      raise status.invalid_argument(
          f'Feature: {name} has element with unexpected JSON type: Number')
    feature.int64_list.value.append(value)


def _example(value, example: example_pb2.Example) -> None:
  if not isinstance(value, dict):
    raise status.invalid_argument(
        'Example must be JSON object but got JSON '
        f'{json_tensor.json_type(value)}')
  for name, content in value.items():
    feature = example.features.feature[name]
    feature.Clear()
    for item in content if isinstance(content, list) else [content]:
      _add_value(item, name, feature, False)


def fill_request(doc: dict, request) -> None:
  """Fills a ClassificationRequest/RegressionRequest from a parsed body."""
  request.model_spec.signature_name = json_tensor.signature_name(doc)
  has_context = 'context' in doc
  target = request.input
  if has_context:
    _example(doc['context'], target.example_list_with_context.context)
  examples = doc.get('examples')
  if 'examples' not in doc:
    raise json_tensor.format_error(
        doc, "When method is classify, key 'examples' is expected and was "
        'not found')
  if not isinstance(examples, list):
    raise json_tensor.format_error(
        doc, "Expecting 'examples' value to be an list/array")
  if not examples:
    raise json_tensor.format_error(
        doc, "'examples' value is an empty array")
  for value in examples:
    container = (target.example_list_with_context.examples if has_context
                 else target.example_list.examples)
    _example(value, container.add())
