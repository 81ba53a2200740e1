"""The complaint client over TF Serving's REST API (`/v1/models/...`).

Standard library only (http.client), over one keep-alive connection, so a
REST caller needs neither grpcio nor the tensorflow-serving-api stubs. One
complaint goes to `predict_raw` as JSON rows; a batch of serialized
tf.Examples goes to `serving_default` as `{"b64": ...}` values; `:explain`
takes a predict body too (this server's extension). TF Serving's
REST predict answer carries no model version, hence `model_version` (read
from `.../metadata` on the same model path) and `pin_version` (which sends
every later request to the version it resolved).
"""

import base64
import http.client
import json
import socket
import time
import urllib.parse
from typing import Any, List, Mapping, Optional, Sequence

from serving.client_inputs import (EXAMPLES_INPUT, EXAMPLES_SIGNATURE,
                                   OUTPUT_KEY, RAW_SIGNATURE, to_features)
from serving.client_types import ClientError, Prediction


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
    self.version, self.label = version, label
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

  def predict_json(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
    """POSTs a predict request body (a JSON object) to this model path; the
    answer's JSON. NaN values are sent as NaN, which TF Serving accepts."""
    return self._post_json(':predict', request)

  def explain_json(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
    """The same body to `:explain` (this server's extension, KServe V1's
    verb; TF Serving has none): {"predictions": ..., "explanations": ...}."""
    return self._post_json(':explain', request)

  def _post_json(self, verb: str, request: Mapping[str, Any]):
    return self._request('POST', self._path + verb,
                         json.dumps(request).encode('utf-8'))

  def predict_examples(self, serialized: Sequence[bytes]) -> List[float]:
    """serving_default on serialized tf.Examples, as {"b64": ...} values."""
    body = json.dumps({
        'signature_name': EXAMPLES_SIGNATURE,
        'instances': [{EXAMPLES_INPUT: {
            'b64': base64.b64encode(s).decode('ascii')}} for s in serialized],
    }).encode('utf-8')
    payload = self._request('POST', self._path + ':predict', body)
    return [float(p[0] if isinstance(p, list) else p)
            for p in payload['predictions']]

  def examples_exchange(self, serialized: Sequence[bytes], version: int):
    """predict_examples, with the protos TF Serving would log for it.

    Returns (probabilities, PredictRequest, PredictResponse), as the gRPC
    client's calls give them, so the bulk scorer logs REST batches the way
    it logs gRPC ones. `version` is the one pin_version returned.
    """
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    from serving import tensor_proto  # pylint: disable=g-import-not-at-top
    values = self.predict_examples(serialized)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.version.value = version
    request.model_spec.signature_name = EXAMPLES_SIGNATURE
    request.inputs[EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto(list(serialized), dtype=tf.string))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self.model_name
    response.model_spec.version.value = version
    response.model_spec.signature_name = EXAMPLES_SIGNATURE
    # Typed fields (float_val), as TF Serving's AsProtoField writes them.
    response.outputs[OUTPUT_KEY].CopyFrom(tensor_proto.to_proto(
        np.array(values, np.float32).reshape(-1, 1)))
    return values, request, response

  def pin_version(self) -> int:
    """Resolves the version (latest or label) and sends to it from now on.

    TF Serving's REST predict answer carries no version; pinned, every
    answer is known to come from the version returned here.
    """
    self._path = _model_path(self.model_name, self.version, self.label)
    version = self.model_version()
    self._path = _model_path(self.model_name, version, None)
    return version

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
