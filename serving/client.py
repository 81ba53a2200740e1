"""Clients for the complaint model over TF Serving's REST and gRPC APIs.

A complaint is a dict keyed by the CFPB export's column names ("Product",
"ZIP code", "Consumer complaint narrative", ...); `components.features`
maps them to the model's raw features, and missing fields are sent as empty
strings. REST calls the `predict_raw` signature (row format); gRPC sends a
serialized tf.Example to `serving_default` with the official stubs. Both work
against this project's server and the real TF Serving alike.

CLI: python -m serving.client --help
"""

import argparse
import dataclasses
import http.client
import json
import socket
import sys
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence

from components import features

OUTPUT_KEY = features.OUTPUT_KEY
RAW_SIGNATURE = features.RAW_SIGNATURE
EXAMPLES_SIGNATURE = features.EXAMPLES_SIGNATURE
EXAMPLES_INPUT = features.EXAMPLES_INPUT


class ClientError(Exception):
  """A failed call, with the server's message when there is one."""

  def __init__(self, message: str, code: Optional[str] = None):
    super().__init__(message)
    self.code = code


@dataclasses.dataclass(frozen=True)
class Prediction:
  disputed_probability: float
  model_version: Optional[int]
  model_name: str
  protocol: str
  latency_ms: float


def to_features(complaint: Mapping[str, Any]) -> Dict[str, str]:
  """Export columns -> raw feature values (strings; missing -> '')."""
  values = {name: '' for name in features.RAW_FEATURES}
  for column, value in complaint.items():
    key = features.EXPORT_TO_FEATURE.get(column)
    if key is None and column in values:
      key = column  # Already a feature name.
    if key is not None:
      values[key] = '' if value is None else str(value)
  return values


def _model_path(model_name: str, version: Optional[int],
                label: Optional[str]) -> str:
  if version is not None and label:
    raise ClientError('Give either a version or a label, not both.')
  path = f'/v1/models/{urllib.parse.quote(model_name, safe="")}'
  if version is not None:
    path += f'/versions/{int(version)}'
  elif label:
    path += f'/labels/{urllib.parse.quote(label, safe="")}'
  return path


class RestClient:
  """Talks to `{host}:{port}/v1/models/...` over one keep-alive connection."""

  def __init__(self, host: str = 'localhost', port: int = 8501,
               model_name: str = 'complaints', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = 10.0):
    self.host, self.port, self.timeout = host, port, timeout
    self.model_name = model_name
    self._path = _model_path(model_name, version, label)
    self._conn: Optional[http.client.HTTPConnection] = None

  def _request(self, method: str, path: str, body: Optional[bytes] = None):
    for attempt in (0, 1):
      if self._conn is None:
        self._conn = http.client.HTTPConnection(self.host, self.port,
                                                timeout=self.timeout)
      try:
        headers = {'Content-Type': 'application/json'} if body else {}
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        break
      except socket.timeout:
        self.close()
        raise ClientError(f'Timed out after {self.timeout}s waiting for '
                          f'{self.host}:{self.port}', 'DEADLINE_EXCEEDED')
      except (ConnectionError, http.client.HTTPException, OSError) as e:
        self.close()
        if attempt:  # One retry covers a keep-alive connection gone stale.
          raise ClientError(f'Cannot reach the model server at {self.host}:'
                            f'{self.port} over REST: {e}', 'UNAVAILABLE')
    try:
      payload = json.loads(data) if data else {}
    except ValueError:
      payload = {'error': data.decode('utf-8', 'replace')}
    if response.status != 200:
      raise ClientError(f'HTTP {response.status}: '
                        f'{payload.get("error", payload)}', str(response.status))
    return payload

  def predict_features(self, rows: Sequence[Mapping[str, str]]) -> List[float]:
    body = json.dumps({'signature_name': RAW_SIGNATURE,
                       'instances': [dict(r) for r in rows]}).encode('utf-8')
    payload = self._request('POST', self._path + ':predict', body)
    return [float(p[0] if isinstance(p, list) else p)
            for p in payload['predictions']]

  def model_version(self) -> Optional[int]:
    """The version a request to this path resolves to (from /metadata).

    TF Serving's REST predict answer carries no version, so it is read from
    the metadata endpoint of the same model path.
    """
    payload = self._request('GET', self._path + '/metadata')
    return int(payload['model_spec']['version'])

  def predict(self, complaint: Mapping[str, Any]) -> Prediction:
    start = time.perf_counter()
    version = self.model_version()
    probability = self.predict_features([to_features(complaint)])[0]
    return Prediction(probability, version, self.model_name, 'rest',
                      (time.perf_counter() - start) * 1e3)

  def close(self) -> None:
    if self._conn is not None:
      self._conn.close()
      self._conn = None


class GrpcClient:
  """PredictionService.Predict with serialized tf.Examples."""

  def __init__(self, host: str = 'localhost', port: int = 8500,
               model_name: str = 'complaints', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = 10.0):
    import grpc  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
    if version is not None and label:
      raise ClientError('Give either a version or a label, not both.')
    self.model_name, self.version, self.label = model_name, version, label
    self.timeout = timeout
    self.target = f'{host}:{port}'
    self._channel = grpc.insecure_channel(self.target)
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)

  def _request(self, rows: Sequence[Mapping[str, str]]):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = EXAMPLES_SIGNATURE
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    elif self.label:
      request.model_spec.version_label = self.label
    serialized = []
    for row in rows:
      example = example_pb2.Example()
      for key in features.RAW_FEATURES:
        example.features.feature[key].bytes_list.value.append(
            row.get(key, '').encode('utf-8'))
      serialized.append(example.SerializeToString())
    request.inputs[EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto(serialized, dtype=tf.string))
    return request

  def predict_features(self, rows: Sequence[Mapping[str, str]]):
    """Returns (probabilities, model version)."""
    import grpc  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      response = self._stub.Predict(self._request(rows), timeout=self.timeout)
    except grpc.RpcError as e:
      code = e.code()
      if code == grpc.StatusCode.UNAVAILABLE:
        raise ClientError(f'Cannot reach the model server at {self.target} '
                          f'over gRPC: {e.details()}', code.name) from None
      if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise ClientError(f'Timed out after {self.timeout}s waiting for '
                          f'{self.target}', code.name) from None
      raise ClientError(f'{code.name}: {e.details()}', code.name) from None
    values = tf.make_ndarray(response.outputs[OUTPUT_KEY]).reshape(-1)
    return [float(v) for v in values], response.model_spec.version.value

  def predict(self, complaint: Mapping[str, Any]) -> Prediction:
    start = time.perf_counter()
    values, version = self.predict_features([to_features(complaint)])
    return Prediction(values[0], version, self.model_name, 'grpc',
                      (time.perf_counter() - start) * 1e3)

  def close(self) -> None:
    self._channel.close()


def make_client(protocol: str, **kwargs):
  if protocol == 'rest':
    return RestClient(**kwargs)
  if protocol == 'grpc':
    return GrpcClient(**kwargs)
  raise ClientError(f'Unknown protocol {protocol!r}: use rest or grpc.')


_EXAMPLES = """examples:
  python -m serving.client --protocol rest --port 8501 \\
      --complaint '{"Product": "Mortgage", "State": "CA", "ZIP code": "940XX",
                    "Consumer complaint narrative": "They charged me twice."}'
  python -m serving.client --protocol grpc --port 8500 --label canary \\
      --complaint @complaint.json

The last line printed is JSON, e.g.
  {"disputed_probability": 0.23, "model_version": 1700000000, ...}
"""


class UsageError(ClientError):
  """A bad command-line argument (exit 2, like argparse's own errors)."""


def _load_complaint(text: str) -> Dict[str, Any]:
  if text.startswith('@'):
    path = text[1:]
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      raise UsageError(
          f'--complaint: cannot read {path}: {e.strerror}') from None
    try:
      text = data.decode('utf-8')
    except UnicodeDecodeError as e:
      raise UsageError(
          f'--complaint {path} is not UTF-8 text (byte 0x{data[e.start]:02x} '
          f'at offset {e.start})') from None
  try:
    complaint = json.loads(text)
  except ValueError as e:
    raise UsageError(f'--complaint is not valid JSON: {e}') from None
  if not isinstance(complaint, dict):
    raise UsageError('--complaint must be a JSON object of export fields')
  return complaint


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m serving.client',
      description='Score one CFPB complaint with a TF Serving-compatible '
                  'server.', epilog=_EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--protocol', choices=('rest', 'grpc'), default='rest')
  parser.add_argument('--host', default='localhost')
  parser.add_argument('--port', type=int,
                      help='default: 8501 for rest, 8500 for grpc')
  parser.add_argument('--model_name', default='complaints')
  target = parser.add_mutually_exclusive_group()
  target.add_argument('--version', type=int, help='a specific model version')
  target.add_argument('--label', help='a version label, e.g. stable, canary')
  parser.add_argument('--complaint', required=True,
                      help='JSON object of export columns, or @file.json')
  parser.add_argument('--timeout', type=float, default=10.0,
                      help='seconds (default: 10)')
  args = parser.parse_args(argv)
  port = args.port or (8501 if args.protocol == 'rest' else 8500)
  try:
    complaint = _load_complaint(args.complaint)
  except UsageError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  try:
    client = make_client(args.protocol, host=args.host, port=port,
                         model_name=args.model_name, version=args.version,
                         label=args.label, timeout=args.timeout)
    try:
      prediction = client.predict(complaint)
    finally:
      client.close()
  except (ClientError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'{prediction.model_name} v{prediction.model_version} over '
        f'{prediction.protocol}: P(disputed) = '
        f'{prediction.disputed_probability:.4f} '
        f'({prediction.latency_ms:.1f} ms)')
  print(json.dumps(dataclasses.asdict(prediction)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
