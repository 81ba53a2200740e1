"""The complaint client over TF Serving's gRPC API (PredictionService).

Sends serialized tf.Examples to `serving_default` with the official
`tensorflow-serving-api` stubs, exactly as a client of the real TF Serving
would. grpcio, the stubs and TensorFlow are imported when a client is made,
not with the module, so REST-only callers never load them. Predict's
response carries the model version, so no extra call is needed for it.
"""

import time
from typing import Any, Mapping, Optional, Sequence

from serving.client_inputs import (EXAMPLES_INPUT, EXAMPLES_SIGNATURE,
                                   OUTPUT_KEY, serialized_examples,
                                   to_features)
from serving.client_types import ClientError, Prediction


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
    return self.examples_request(serialized_examples(rows))

  def new_request(self, signature_name: str):
    """An empty PredictRequest to this client's model, version or label."""
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = signature_name
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    elif self.label:
      request.model_spec.version_label = self.label
    return request

  def examples_request(self, serialized: Sequence[bytes]):
    """A PredictRequest for serving_default on serialized tf.Examples."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    request = self.new_request(EXAMPLES_SIGNATURE)
    request.inputs[EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto(list(serialized), dtype=tf.string))
    return request

  def predict_features(self, rows: Sequence[Mapping[str, str]]):
    """Returns (probabilities, model version)."""
    values, response = self.predict_request(self._request(rows))
    return values, response.model_spec.version.value

  def predict_request(self, request):
    """Sends a PredictRequest; returns (probabilities, the response)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    response = self.call(request)
    values = tf.make_ndarray(response.outputs[OUTPUT_KEY]).reshape(-1)
    return [float(v) for v in values], response

  def call(self, request):
    """Sends a PredictRequest; the PredictResponse, or ClientError."""
    import grpc  # pylint: disable=g-import-not-at-top
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as e:
      code = e.code()
      if code == grpc.StatusCode.UNAVAILABLE:
        raise ClientError(f'Cannot reach the model server at {self.target} '
                          f'over gRPC: {e.details()}', code.name) from None
      if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise ClientError(f'Timed out after {self.timeout}s waiting for '
                          f'{self.target}', code.name) from None
      raise ClientError(f'{code.name}: {e.details()}', code.name) from None
    return response

  def predict(self, complaint: Mapping[str, Any]) -> Prediction:
    start = time.perf_counter()
    values, version = self.predict_features([to_features(complaint)])
    return Prediction(values[0], version, self.model_name, 'grpc',
                      (time.perf_counter() - start) * 1e3)

  def close(self) -> None:
    self._channel.close()
