"""The JSON codec: TF Serving's formats, numbers and error messages."""

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import regression_pb2

from serving import json_examples
from serving import json_output
from serving import json_tensor
from serving import status

FLOAT, STRING, INT64 = types_pb2.DT_FLOAT, types_pb2.DT_STRING, types_pb2.DT_INT64


def parse(body, infos):
  return json_tensor.predict_inputs(json_tensor.parse_json(body.encode()),
                                    infos)


def error(body, infos):
  with pytest.raises(status.ServingError) as info:
    parse(body, infos)
  return info.value.message


def test_row_format_batches_instances():
  inputs, fmt = parse('{"instances": [[1, 2], [3, 4.5]]}', {'x': FLOAT})
  assert fmt == json_tensor.ROW
  np.testing.assert_array_equal(inputs['x'], [[1, 2], [3, 4.5]])
  assert inputs['x'].dtype == np.float32


def test_named_instances_b64_and_ints():
  inputs, _ = parse('{"instances": [{"s": {"b64": "AAE="}, "k": 5},'
                    ' {"s": "t", "k": -1}]}', {'s': STRING, 'k': INT64})
  assert inputs['s'].tolist() == [b'\x00\x01', b't']
  assert inputs['k'].dtype == np.int64 and inputs['k'].tolist() == [5, -1]


def test_columnar_format():
  inputs, fmt = parse('{"inputs": {"x": [[1.0]], "s": ["a"]}}',
                      {'x': FLOAT, 's': STRING})
  assert fmt == json_tensor.COLUMNAR and inputs['x'].shape == (1, 1)


@pytest.mark.parametrize('body,message', [
    ('{"instances": [1, [2]]}',
     "Failed to process element: 1 of 'instances' list. Error: "
     'INVALID_ARGUMENT: Expecting shape [] but got: [1]'),
    ('{"inputs": [[1, 2], [3]]}',
     'Encountered list at unexpected size: 1 at level: 1 expected size: 2'),
    ('{"instances": [16777217]}',
     "Failed to process element: 0 of 'instances' list. Error: "
     'INVALID_ARGUMENT: Cannot convert JSON value: 16777217 to float without '
     'loss of precision.'),
    ('{"instances": [true]}',
     "Failed to process element: 0 of 'instances' list. Error: "
     'INVALID_ARGUMENT: JSON Value: true Type: True is not of expected type: '
     'float'),
    ('{"instances": "x"}',
     'JSON Value: {"instances":"x"} Excepting \'instances\' to be an '
     'list/array'),
    ('{"instances": [1]', "JSON Parse error: Missing a comma or ']' after an "
                          'array element. at offset: 17'),
    ('nul', 'JSON Parse error: Invalid value. at offset: 0'),
])
def test_errors(body, message):
  assert error(body, {'x': FLOAT}) == message


def test_plain_list_needs_a_single_input():
  assert error('{"instances": [1.0]}', {'a': FLOAT, 'b': FLOAT}) == (
      'instances is a plain list, but expecting list of objects as multiple '
      'input tensors required as per tensorinfo_map')
  assert error('{"instances": [{"a": 1.0}]}', {'a': FLOAT, 'b': FLOAT}) == (
      "Failed to process element: 0 of 'instances' list. JSON object: "
      '{"a":1.0} must only have keys: a,b')


def test_float_formatting_matches_tf_serving():
  values = [0.1, 2.0, 1e7, 3e-05, 1 / 3, float('nan'), float('-inf')]
  assert [json_output.format_float(v) for v in values] == [
      '0.1', '2.0', '1e+07', '3e-05', '0.333333343', 'NaN', '-Infinity']
  assert json_output.format_float(0.1, np.float64) == '0.1'


def test_predictions_and_outputs():
  y = np.array([[1.5], [2.0]], np.float32)
  assert json_output.predictions({'y': y}, json_tensor.ROW) == (
      '{\n    "predictions": [[1.5], [2.0]]\n}')
  assert json_output.predictions({'y': y, 'z_bytes': np.array(
      [b'\xff', b'a'], object)}, json_tensor.COLUMNAR) == (
          '{\n    "outputs": {"y": [[1.5], [2.0]], '
          '"z_bytes": [{"b64": "/w=="}, {"b64": "YQ=="}]}\n}')
  with pytest.raises(status.ServingError):
    json_output.predictions({'y': y, 'z': np.ones(3)}, json_tensor.ROW)


def test_examples_json_to_protos():
  request = regression_pb2.RegressionRequest()
  json_examples.fill_request(json_tensor.parse_json(
      b'{"examples": [{"f": 1.5, "i": [1, 2], "s": "a", "b": {"b64": "AA=="}}'
      b']}'), request)
  feature = request.input.example_list.examples[0].features.feature
  assert list(feature['f'].float_list.value) == [1.5]
  assert list(feature['i'].int64_list.value) == [1, 2]
  assert list(feature['s'].bytes_list.value) == [b'a']
  assert list(feature['b'].bytes_list.value) == [b'\x00']
  with pytest.raises(status.ServingError) as info:
    json_examples.fill_request(
        json_tensor.parse_json(b'{"examples": [{"f": [1.5, "x"]}]}'),
        regression_pb2.RegressionRequest())
  assert info.value.message == (
      'Unexpected element type in feature: f expecting type: float')
