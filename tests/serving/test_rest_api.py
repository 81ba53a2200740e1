"""Conformance of the REST API with TF Serving's (URLs, JSON, errors)."""

import base64
import json
import threading

import pytest

from serving_helpers import call

HPT = '/v1/models/half_plus_two'


@pytest.fixture(scope='module')
def port(conformance_server):
  return conformance_server.rest_port


def test_model_status(port):
  code, body = call(port, 'GET', HPT)
  assert code == 200
  assert body == {'model_version_status': [{
      'version': '1', 'state': 'AVAILABLE',
      'status': {'error_code': 'OK', 'error_message': ''}}]}
  assert call(port, 'GET', HPT + '/versions/1')[1] == body


def test_model_status_errors(port):
  assert call(port, 'GET', '/v1/models/nope') == (
      404, {'error': 'Could not find any versions of model nope'})
  assert call(port, 'GET', HPT + '/versions/9') == (
      404, {'error': 'Could not find version 9 of model half_plus_two'})
  assert call(port, 'GET', '/v1/models') == (
      400, {'error': 'Missing model name in request.'})


def test_metadata_renders_signature_defs(port):
  code, body = call(port, 'GET', HPT + '/metadata')
  assert code == 200
  assert body['model_spec'] == {'name': 'half_plus_two', 'signature_name': '',
                                'version': '1'}
  sigs = body['metadata']['signature_def']['signature_def']
  assert set(sigs) == {'serving_default', 'classify_x_to_y', 'regress_x_to_y',
                       'two_inputs', 'matrix'}
  default = sigs['serving_default']
  assert default['method_name'] == 'tensorflow/serving/predict'
  assert default['inputs']['x']['dtype'] == 'DT_FLOAT'
  assert default['inputs']['x']['tensor_shape'] == {
      'dim': [{'size': '-1', 'name': ''}], 'unknown_rank': False}
  assert sigs['classify_x_to_y']['method_name'] == (
      'tensorflow/serving/classify')
  assert call(port, 'GET', HPT + '/versions/1/metadata')[1] == body


def test_predict_row_and_columnar(port):
  assert call(port, 'POST', HPT + ':predict',
              {'instances': [1.0, 2.0, 5.0]}) == (
                  200, {'predictions': [2.5, 3.0, 4.5]})
  assert call(port, 'POST', HPT + ':predict', {'inputs': [1.0, 2.0, 5.0]}) == (
      200, {'outputs': [2.5, 3.0, 4.5]})
  assert call(port, 'POST', HPT + '/versions/1:predict',
              {'signature_name': 'serving_default',
               'inputs': {'x': [1.0]}}) == (200, {'outputs': [2.5]})


def test_predict_multiple_inputs_and_b64(port):
  code, body = call(port, 'POST', HPT + ':predict', {
      'signature_name': 'two_inputs',
      'instances': [{'x': 1.0, 's': 'text'},
                    {'x': 3, 's': {'b64': base64.b64encode(b'\xff\x00').decode()}}]})
  assert code == 200
  # Outputs whose name ends in _bytes come back base64-encoded.
  assert body == {'predictions': [
      {'s_bytes': {'b64': base64.b64encode(b'text').decode()}, 'y': 2.5},
      {'s_bytes': {'b64': base64.b64encode(b'\xff\x00').decode()}, 'y': 3.5}]}
  code, body = call(port, 'POST', HPT + ':predict', {
      'signature_name': 'two_inputs', 'inputs': {'x': [1.0], 's': ['a']}})
  assert body == {'outputs': {'s_bytes': [{'b64': 'YQ=='}], 'y': [2.5]}}


def test_predict_matrix_shapes(port):
  code, body = call(port, 'POST', HPT + ':predict', {
      'signature_name': 'matrix', 'instances': [[1, 2, 3], [4, 5, 6]]})
  assert code == 200
  assert body == {'predictions': [[2.5, 3.0, 3.5], [4.0, 4.5, 5.0]]}


def test_keras_model_predict_and_regress(port):
  path = '/v1/models/keras_half_plus_two'
  assert call(port, 'POST', path + ':predict', {'instances': [2.0]}) == (
      200, {'predictions': [3.0]})
  # TF2 signatures are all "predict" methods; like TF Serving (without
  # --enable_signature_method_name_check) they still serve :regress.
  assert call(port, 'POST', path + ':regress', {
      'signature_name': 'regress_x_to_y', 'examples': [{'x': 4.0}]}) == (
          200, {'results': [4.0]})


def test_classify_and_regress(port):
  assert call(port, 'POST', HPT + ':classify', {
      'signature_name': 'classify_x_to_y',
      'examples': [{'x': 1.0}, {'x': 3.0}]}) == (
          200, {'results': [[['', 2.5]], [['', 3.5]]]})
  assert call(port, 'POST', HPT + ':regress', {
      'signature_name': 'regress_x_to_y', 'context': {'x': 5.0},
      'examples': [{}, {'x': 1.0}]}) == (200, {'results': [4.5, 2.5]})


@pytest.mark.parametrize('path,body,code,message', [
    ('/v1/models/nope:predict', {'instances': [1.0]}, 404,
     'Servable not found for request: Latest(nope)'),
    (HPT + '/versions/7:predict', {'instances': [1.0]}, 404,
     'Servable not found for request: Specific(half_plus_two, 7)'),
    (HPT + '/labels/canary:predict', {'instances': [1.0]}, 400,
     'Unrecognized servable version label: canary'),
    (HPT + ':predict', '{"instances": [1.0', 400,
     "JSON Parse error: Missing a comma or ']' after an array element. at "
     'offset: 18'),
    (HPT + ':predict', '', 400, 'JSON Parse error: The document is empty'),
    (HPT + ':predict', {'instances': [{'z': 1.0}]}, 400,
     "Failed to process element: 0 key: z of 'instances' list. Error: "
     'INVALID_ARGUMENT: JSON object: does not have named input: z'),
    (HPT + ':predict', {'inputs': {'z': [1.0]}}, 400,
     "Missing named input: x in 'inputs' object."),
    (HPT + ':predict', {'instances': ['a']}, 400,
     "Failed to process element: 0 of 'instances' list. Error: "
     'INVALID_ARGUMENT: JSON Value: "a" Type: String is not of expected '
     'type: float'),
    (HPT + ':predict', {'signature_name': 'matrix', 'instances': [[1, 2, 3],
                                                                  [1, 2]]},
     400, "Failed to process element: 1 of 'instances' list. Error: "
          'INVALID_ARGUMENT: Expecting tensor size: 3 but got: 2'),
    (HPT + ':predict', {'signature_name': 'matrix', 'instances': [[1, 2]]},
     400, "Input 'm' has shape [1, 2], which is not compatible with the "
          'signature shape [?,3]'),
    (HPT + ':predict', {'signature_name': 'nope', 'instances': [1.0]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    (HPT + ':predict', {'instances': [1.0], 'inputs': [1.0]}, 400,
     'JSON Value: {"instances":[1.0],"inputs":[1.0]} Not formatted correctly '
     "expecting only one of 'inputs' or 'instances' keys to exist "),
    (HPT + ':predict', {'signature_name': 3}, 400,
     'JSON Value: {"signature_name":3} not formatted correctly. '
     "'signature_name' key must be a string value."),
    (HPT + ':classify', {'signature_name': 'nope', 'examples': [{'x': 1.0}]},
     400, 'No signature was found with the name: nope'),
    (HPT + ':regress', {'signature_name': 'regress_x_to_y'}, 400,
     'JSON Value: {"signature_name":"regress_x_to_y"} When method is '
     "classify, key 'examples' is expected and was not found"),
    (HPT + ':frobnicate', {}, 400,
     'Malformed request: POST /v1/models/half_plus_two:frobnicate'),
])
def test_errors_like_tf_serving(port, path, body, code, message):
  assert call(port, 'POST', path, body) == (code, {'error': message})


def test_error_body_format_and_unknown_paths(port):
  code, text, response = call(port, 'POST', '/v1/models/nope:predict',
                              '{"instances": [1]}', raw=True)
  assert code == 404 and text == (
      '{ "error": "Servable not found for request: Latest(nope)" }')
  assert response.getheader('Content-Type') == 'application/json'
  assert call(port, 'GET', '/healthz', raw=True)[0] == 404
  assert call(port, 'GET', HPT + ':predict')[0] == 400


def test_bad_input_never_takes_the_server_down(port):
  bad_bodies = [b'\xff\xfe', b'{' * 100000, b'[' * 5000 + b']' * 5000,
                b'null', b'{"instances": null}', b'{"instances": [[[[]]]]}',
                json.dumps({'instances': [1e300]}).encode(),
                json.dumps({'instances': [{'b64': '!!'}]}).encode()]
  for body in bad_bodies:
    code, payload = call(port, 'POST', HPT + ':predict', body)
    assert code == 400 and 'error' in payload, (body[:20], payload)
  # An oversized body is refused without being read.
  big = b'{"instances": [' + b'1.0,' * 100 + b'1.0]}'
  code, payload = call(port, 'POST', HPT + ':predict', big,
                       headers={'Content-Length': str(10**12)})
  assert code == 413
  assert call(port, 'POST', HPT + ':predict', {'instances': [1.0]}) == (
      200, {'predictions': [2.5]})


def test_concurrent_requests_all_succeed(port):
  failures = []

  def worker(i):
    for _ in range(20):
      code, body = call(port, 'POST', HPT + ':predict',
                        {'instances': [float(i)]})
      if code != 200 or body != {'predictions': [0.5 * i + 2.0]}:
        failures.append((code, body))

  threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not failures


def test_prometheus_metrics_page(port):
  call(port, 'POST', HPT + ':predict', {'instances': [1.0]})
  code, text, response = call(port, 'GET', '/monitoring/prometheus/metrics',
                              raw=True)
  assert code == 200 and response.getheader('Content-Type') == 'text/plain'
  assert '# TYPE :tensorflow:serving:request_count counter' in text
  assert (':tensorflow:serving:request_count{model_name="half_plus_two",'
          'status="OK"}') in text
  assert ('# TYPE :tensorflow:serving:request_latency histogram') in text
  assert (':tensorflow:serving:request_latency_bucket{model_name='
          '"half_plus_two",API="Predict",entrypoint="REST",le="10"}') in text
  assert ':tensorflow:cc:saved_model:load_attempt_count{model_path=' in text
  assert ':tensorflow:serving:model_warmup_latency_count{model_path=' in text
