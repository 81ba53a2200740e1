"""TF Serving's HTTP/REST API, independent of its HTTP transport.

URLs, methods, JSON bodies, error JSON and HTTP status codes follow
tensorflow_serving/model_servers/http_rest_api_handler.cc:

  GET  /v1/models/{name}[/versions/{v} | /labels/{l}]            status
  GET  /v1/models/{name}[/versions/{v} | /labels/{l}]/metadata   metadata
  POST /v1/models/{name}[/versions/{v} | /labels/{l}]:{predict|classify|regress}

plus Prometheus metrics at the path of --monitoring_config_file, and, as an
extension from KServe's V1 protocol, `POST ...:explain`: a predict body run
through the model's `explain` signature (serving/explanations.py).
`RestApi.handle_async` serves the event-loop transport (rest_async.py),
`RestApi.handle` the thread-per-connection one (rest_server.py).
"""

import asyncio
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

from serving import explanations
from serving import inference
from serving import json_examples
from serving import json_output
from serving import json_tensor
from serving import status
from serving import tensor_proto

_V1 = re.compile(r'(?i)/v1/.*')
_PREDICTION = re.compile(
    r'(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?'
    r':(classify|regress|predict|explain)')
_STATUS = re.compile(
    r'(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|'
    r'(?:/labels/([^/:]+)))?(?:/(metadata))?')
_API = {'predict': 'Predict', 'classify': 'Classify', 'regress': 'Regress',
        'explain': 'Explain'}
# Routes of API URLs remembered (method, target -> _Route): parsing a URL
# (urlsplit, two regular expressions, unquoting) is per-request work that
# depends on the URL alone. Bounded: cleared when full (a client can send
# any number of distinct URLs).
_ROUTE_CACHE_SIZE = 1024
_CORS = [('Access-Control-Allow-Origin', '*'),
         ('Access-Control-Allow-Methods', 'POST, GET'),
         ('Access-Control-Allow-Headers', 'Content-Type')]
Response = Tuple[int, List[Tuple[str, str]], str]


class _Route:
  """A request for an API URL: what it asks for, parsed from the URL."""
  __slots__ = ('method', 'path', 'headers', 'spec', 'api', 'metadata')

  def __init__(self, method: str, path: str, headers):
    self.method = method
    self.path = path
    self.headers = headers
    self.spec: Dict[str, object] = {}
    # Predict, Classify, Regress, Explain; None: GET.
    self.api: Optional[str] = None
    self.metadata = False

  def run(self, api: 'RestApi', body: bytes) -> str:
    """The JSON answer (blocking; raises ServingError)."""
    if self.api == 'Predict':
      return api._predict(self.spec, body)  # pylint: disable=protected-access
    if self.api == 'Explain':
      return api._explain(self.spec, body)  # pylint: disable=protected-access
    if self.api is not None:
      return api._predict_like(self.api, self.spec, body)  # pylint: disable=protected-access
    if self.metadata:
      return api._metadata(self.spec)  # pylint: disable=protected-access
    return api._status(self.spec)  # pylint: disable=protected-access


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
    self._json_headers = [('Content-Type', 'application/json')] + (
        _CORS if cors else [])
    self._routes: Dict[Tuple[str, str], _Route] = {}

  def handle(self, method: str, path: str, body: bytes) -> Response:
    """Answers a request, blocking until the model has run."""
    route = self._route(method, path)
    if not isinstance(route, _Route):
      return route
    start = time.monotonic()
    try:
      output = route.run(self, body)
    except Exception as e:  # pylint: disable=broad-except
      return self._failed(route, start, e)
    return self._answered(route, start, output)

  async def handle_async(self, method: str, path: str, body: bytes,
                         executor) -> Response:
    """`handle` on the event loop.

    Predict and Explain run there (decoding, checks, response), with the
    model run as a batch or in `executor`; classify and regress, which
    block, run whole in `executor`; status, metadata and metrics run on
    the loop.
    """
    route = self._route(method, path)
    if not isinstance(route, _Route):
      return route
    start = time.monotonic()
    try:
      if route.api == 'Predict':
        output = await self._predict_async(route.spec, body, executor)
      elif route.api == 'Explain':
        output = await self._explain_async(route.spec, body, executor)
      elif route.api is not None:
        loop = asyncio.get_running_loop()
        output = await loop.run_in_executor(executor, route.run, self, body)
      else:
        output = route.run(self, body)
    except Exception as e:  # pylint: disable=broad-except
      return self._failed(route, start, e)
    return self._answered(route, start, output)

  def _route(self, method: str, target: str):
    """A _Route for an API URL; else the whole Response (404, metrics,
    CORS preflight, a malformed API URL). Routes are remembered per
    (method, target); what depends on more (metrics, errors) is not."""
    route = self._routes.get((method, target))
    if route is not None:
      return route
    route = self._parse_route(method, target)
    if isinstance(route, _Route):
      if len(self._routes) >= _ROUTE_CACHE_SIZE:
        self._routes.clear()
      self._routes[method, target] = route
    return route

  def _parse_route(self, method: str, target: str):
    path = urllib.parse.urlsplit(target).path
    if self._prometheus_path and path == self._prometheus_path:
      return 200, [('Content-Type', 'text/plain')], self._metrics.render()
    if not _V1.fullmatch(path):
      return 404, [('Content-Type', 'text/plain')], 'Not Found\n'
    headers = self._json_headers
    if method == 'OPTIONS' and self._cors:
      return 200, headers, ''
    route = _Route(method, path, headers)
    try:
      match = None
      if method == 'POST':
        match = _PREDICTION.fullmatch(path)
      elif method == 'GET':
        match = _STATUS.fullmatch(path)
      if match is None:
        raise status.invalid_argument(f'Malformed request: {method} {path}')
      route.spec = self._model_spec(match)
      if method == 'POST':
        route.api = _API[match.group(4).lower()]
      route.metadata = method == 'GET' and bool(match.group(4))
    except status.ServingError as e:
      return e.http_status, headers, json_output.error(e.message)
    return route

  def _failed(self, route: '_Route', start: float, error: Exception
              ) -> Response:
    if isinstance(error, status.ServingError):
      code, http_status, output = error.code, error.http_status, (
          json_output.error(error.message))
    else:
      logging.error('REST request %s %s failed', route.method, route.path,
                    exc_info=error)
      code, http_status = status.INTERNAL, 500
      output = json_output.error(f'{type(error).__name__}: {error}')
    self._record(route, start, code)
    return http_status, route.headers, output

  def _answered(self, route: '_Route', start: float, output: str
                ) -> Response:
    self._record(route, start, status.OK)
    return 200, route.headers, output

  def _record(self, route: '_Route', start: float, code: str) -> None:
    if route.api is not None:
      self._metrics.record_request(route.spec['name'], route.api, 'REST',
                                   code, (time.monotonic() - start) * 1e6)

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
    servable, key, runner, inputs, fmt = self._prepare_predict(spec, body)
    outputs = servable.run(runner, inputs, self._deadline())
    return self._predict_output(spec, servable, key, inputs, outputs, fmt)

  async def _predict_async(self, spec, body: bytes, executor) -> str:
    servable, key, runner, inputs, fmt = self._prepare_predict(
        spec, body, check_values=False)
    outputs = await servable.run_async(runner, inputs, self._deadline(),
                                       executor, checked=False)
    return self._predict_output(spec, servable, key, inputs, outputs, fmt)

  def _explain(self, spec, body: bytes) -> str:
    servable, key, runner, inputs, _ = self._prepare_predict(
        spec, body, explain=True)
    outputs = servable.run(runner, inputs, self._deadline())
    self._log_predict(spec, servable, key, inputs, outputs)
    return explanations.response(servable, outputs)

  async def _explain_async(self, spec, body: bytes, executor) -> str:
    servable, key, runner, inputs, _ = self._prepare_predict(
        spec, body, check_values=False, explain=True)
    outputs = await servable.run_async(runner, inputs, self._deadline(),
                                       executor, checked=False)
    self._log_predict(spec, servable, key, inputs, outputs)
    return explanations.response(servable, outputs)

  def _prepare_predict(self, spec, body: bytes, check_values: bool = True,
                       explain: bool = False):
    """Decodes and checks a predict (explain: of the explain signature,
    whatever predict-like signature the body names); with check_values
    False the dtype and shape checks are left to Servable.run_async (once
    per batch)."""
    doc = json_tensor.parse_json(body)
    signature = json_tensor.signature_name(doc)
    servable = self._core.resolve(spec['name'], spec.get('version'),
                                  spec.get('label'))
    if explain:
      key = explanations.signature(servable, signature)
    else:
      key = signature or 'serving_default'
    if key not in servable.signature_defs:
      raise status.invalid_argument(
          f'Serving signature name: "{key}" not found in signature def')
    plan = servable.predict_plan(key)
    inputs, fmt = json_tensor.predict_inputs(
        doc, plan.input_dtypes, self._core.options.max_tensor_elements)
    runner = servable.prepare_predict(
        key, inputs, check_values=check_values or not servable.batching)
    return servable, key, runner, inputs, fmt

  def _predict_output(self, spec, servable, key, inputs, outputs, fmt) -> str:
    self._log_predict(spec, servable, key, inputs, outputs)
    return json_output.predictions(outputs, fmt)

  def _log_predict(self, spec, servable, key, inputs, outputs) -> None:
    """Offers a predict (or explain: served traffic too) to the request
    log, as the PredictLog TF Serving would write for it."""
    self._core.log_request(
        'predict', servable, key,
        lambda: _predict_request(spec, key, inputs),
        lambda: _predict_response(servable, spec['name'], key, outputs))

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
