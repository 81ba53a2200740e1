"""TF Serving's HTTP/REST API on a threaded HTTP/1.1 server.

URLs, methods, JSON bodies, error JSON and HTTP status codes follow
tensorflow_serving/model_servers/http_rest_api_handler.cc:

  GET  /v1/models/{name}[/versions/{v} | /labels/{l}]            status
  GET  /v1/models/{name}[/versions/{v} | /labels/{l}]/metadata   metadata
  POST /v1/models/{name}[/versions/{v} | /labels/{l}]:{predict|classify|regress}

plus Prometheus metrics at the path of --monitoring_config_file.
`RestApi.handle` is independent of the HTTP transport (rest_server.py).
"""

import logging
import re
import time
import urllib.parse
from typing import Dict, List, Optional, Tuple

from google.protobuf import json_format
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from serving import inference
from serving import json_examples
from serving import json_output
from serving import json_tensor
from serving import status
from serving import tensor_proto

_V1 = re.compile(r'(?i)/v1/.*')
_PREDICTION = re.compile(
    r'(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?'
    r':(classify|regress|predict)')
_STATUS = re.compile(
    r'(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|'
    r'(?:/labels/([^/:]+)))?(?:/(metadata))?')
_API = {'predict': 'Predict', 'classify': 'Classify', 'regress': 'Regress'}
_CORS = [('Access-Control-Allow-Origin', '*'),
         ('Access-Control-Allow-Methods', 'POST, GET'),
         ('Access-Control-Allow-Headers', 'Content-Type')]
Response = Tuple[int, List[Tuple[str, str]], str]


def _message_to_json(message, preserve_names: bool) -> str:
  kwargs = {'preserving_proto_field_name': preserve_names, 'indent': 1}
  try:
    return json_format.MessageToJson(message,
                                     including_default_value_fields=True,
                                     **kwargs)
  except TypeError:  # protobuf >= 5 renamed the option.
    return json_format.MessageToJson(
        message, always_print_fields_with_no_presence=True, **kwargs)


class RestApi:
  """Turns (method, path, body) into (HTTP status, headers, JSON body)."""

  def __init__(self, core, metrics, timeout_ms: int = 30000,
               cors: bool = False, prometheus_path: Optional[str] = None,
               check_method_names: bool = False):
    self._core = core
    self._metrics = metrics
    self._timeout = timeout_ms / 1000.0 if timeout_ms > 0 else None
    self._cors = cors
    self._prometheus_path = prometheus_path
    self._check_method_names = check_method_names

  def handle(self, method: str, path: str, body: bytes) -> Response:
    path = urllib.parse.urlsplit(path).path
    if self._prometheus_path and path == self._prometheus_path:
      return 200, [('Content-Type', 'text/plain')], self._metrics.render()
    if not _V1.fullmatch(path):
      return 404, [('Content-Type', 'text/plain')], 'Not Found\n'
    headers = [('Content-Type', 'application/json')]
    if self._cors:
      headers += _CORS
    if method == 'OPTIONS' and self._cors:
      return 200, headers, ''
    start = time.monotonic()
    api, model_name = None, ''
    try:
      match = None
      if method == 'POST':
        match = _PREDICTION.fullmatch(path)
      elif method == 'GET':
        match = _STATUS.fullmatch(path)
      if match is None:
        raise status.invalid_argument(f'Malformed request: {method} {path}')
      spec = self._model_spec(match)
      model_name = spec['name']
      if method == 'POST':
        api = _API[match.group(4).lower()]
        output = self._predict_like(api, spec, body)
      elif match.group(4):
        output = self._metadata(spec)
      else:
        output = self._status(spec)
      code = status.OK
      http_status = 200
    except status.ServingError as e:
      code, http_status, output = e.code, e.http_status, json_output.error(
          e.message)
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('REST request %s %s failed', method, path)
      code, http_status = status.INTERNAL, 500
      output = json_output.error(f'{type(e).__name__}: {e}')
    if api is not None:
      self._metrics.record_request(model_name, api, 'REST', code,
                                   (time.monotonic() - start) * 1e6)
    return http_status, headers, output

  @staticmethod
  def _model_spec(match) -> Dict[str, object]:
    name, version, label = match.group(1), match.group(2), match.group(3)
    spec: Dict[str, object] = {'name': urllib.parse.unquote(name or '')}
    if version:
      number = int(version)
      if number >= 2**63:
        raise status.invalid_argument(
            f'Failed to convert version: {version} to numeric.')
      spec['version'] = number
    if label:
      spec['label'] = urllib.parse.unquote(label)
    return spec

  @staticmethod
  def _fill_spec(proto_spec, spec) -> None:
    proto_spec.name = spec['name']
    if 'version' in spec:
      proto_spec.version.value = spec['version']
    if 'label' in spec:
      proto_spec.version_label = spec['label']

  def _deadline(self) -> Optional[float]:
    return None if self._timeout is None else time.monotonic() + self._timeout

  def _predict_like(self, api: str, spec, body: bytes) -> str:
    if api == 'Predict':
      return self._predict(spec, body)
    request = (classification_pb2.ClassificationRequest() if api == 'Classify'
               else regression_pb2.RegressionRequest())
    self._fill_spec(request.model_spec, spec)
    json_examples.fill_request(json_tensor.parse_json(body), request)
    servable = self._core.servable(request.model_spec)
    if api == 'Classify':
      response = inference.classify(servable, request, self._deadline(),
                                    self._check_method_names)
      self._core.log_request('classify', servable,
                             response.model_spec.signature_name, request,
                             response)
      return json_output.classification_results(response.result)
    response = inference.regress(servable, request, self._deadline(),
                                 self._check_method_names)
    self._core.log_request('regress', servable,
                           response.model_spec.signature_name, request,
                           response)
    return json_output.regression_results(response.result)

  def _predict(self, spec, body: bytes) -> str:
    doc = json_tensor.parse_json(body)
    signature = json_tensor.signature_name(doc)
    model_spec = get_model_status_pb2.GetModelStatusRequest().model_spec
    self._fill_spec(model_spec, spec)
    servable = self._core.servable(model_spec)
    key = signature or 'serving_default'
    if key not in servable.signature_defs:
      raise status.invalid_argument(
          f'Serving signature name: "{key}" not found in signature def')
    infos = {k: v.dtype for k, v in servable.signature_defs[key].inputs.items()}
    inputs, fmt = json_tensor.predict_inputs(
        doc, infos, self._core.options.max_tensor_elements)
    outputs = servable.predict(key, inputs, (), self._deadline())
    self._core.log_request(
        'predict', servable, key,
        lambda: _predict_request(spec, key, inputs),
        lambda: _predict_response(servable, spec['name'], key, outputs))
    return json_output.predictions(outputs, fmt)

  def _status(self, spec) -> str:
    if not spec['name']:
      raise status.invalid_argument('Missing model name in request.')
    request = get_model_status_pb2.GetModelStatusRequest()
    self._fill_spec(request.model_spec, spec)
    return _message_to_json(self._core.model_status(request), False)

  def _metadata(self, spec) -> str:
    if not spec['name']:
      raise status.invalid_argument('Missing model name in request.')
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.metadata_field.append(inference.SIGNATURE_DEF_FIELD)
    self._fill_spec(request.model_spec, spec)
    response = inference.model_metadata(self._core.servable(request.model_spec),
                                        request)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[inference.SIGNATURE_DEF_FIELD].Unpack(signature_map)
    return ('{\n"model_spec":' + _message_to_json(response.model_spec, True) +
            ',\n"metadata": {"signature_def": ' +
            _message_to_json(signature_map, True) + '}\n}\n')


def _predict_request(spec, signature_name: str, inputs
                     ) -> predict_pb2.PredictRequest:
  """The PredictRequest TF Serving builds from a REST predict (for logs)."""
  request = predict_pb2.PredictRequest()
  RestApi._fill_spec(request.model_spec, spec)  # pylint: disable=protected-access
  request.model_spec.signature_name = signature_name
  for alias, value in inputs.items():
    request.inputs[alias].CopyFrom(tensor_proto.to_proto(value))
  return request


def _predict_response(servable, model_name: str, signature_name: str,
                      outputs) -> predict_pb2.PredictResponse:
  response = predict_pb2.PredictResponse()
  inference.fill_model_spec(response.model_spec, model_name,
                            servable.version, signature_name)
  for alias, value in outputs.items():
    response.outputs[alias].CopyFrom(tensor_proto.to_proto(value))
  return response
