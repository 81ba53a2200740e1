"""Predict, Classify, Regress, MultiInference and GetModelMetadata on protos.

The request-level semantics of TF Serving's servables/tensorflow/*.cc (which
signature is used, what it must look like, how results are shaped, and the
error for each mismatch), shared by the gRPC API, the REST API (classify and
regress requests are built as protos, as TF Serving does) and warmup replay.
"""

from typing import List, Optional, Tuple

import numpy as np
import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from serving import servable as servable_lib
from serving import status
from serving import tensor_proto

SIGNATURE_DEF_FIELD = 'signature_def'
CLASSIFY_INPUTS = 'inputs'
CLASSIFY_CLASSES = 'classes'
CLASSIFY_SCORES = 'scores'
REGRESS_INPUTS = 'inputs'
REGRESS_OUTPUTS = 'outputs'


def fill_model_spec(spec, name: str, version: int, signature_name: str):
  spec.name = name
  spec.version.value = version
  spec.signature_name = signature_name or servable_lib.DEFAULT_SIGNATURE


def tensor_to_ndarray(alias: str, proto,
                      max_elements: Optional[int] = None) -> np.ndarray:
  """A request tensor, checked and bounded before anything is allocated."""
  try:
    return tensor_proto.to_ndarray(proto, max_elements)
  except tensor_proto.TensorError as e:
    raise status.invalid_argument(
        f'tensor parsing error: {alias} ({e})') from None
  except Exception:  # pylint: disable=broad-except
    raise status.invalid_argument(f'tensor parsing error: {alias}') from None


def input_to_examples(input_proto) -> np.ndarray:
  """Serialized tf.Examples of an Input proto (context merged in)."""
  kind = input_proto.WhichOneof('kind')
  if kind == 'example_list':
    serialized = [e.SerializeToString()
                  for e in input_proto.example_list.examples]
  elif kind == 'example_list_with_context':
    context = input_proto.example_list_with_context.context.SerializeToString()
    # Concatenated serialized protos merge; the example's values win.
    serialized = [context + e.SerializeToString()
                  for e in input_proto.example_list_with_context.examples]
  else:
    serialized = []
  if not serialized:
    raise status.invalid_argument('Input is empty.')
  return np.array(serialized, dtype=object)


def prepare_predict(servable: servable_lib.Servable,
                    request: predict_pb2.PredictRequest,
                    max_elements: Optional[int] = None,
                    check_values: bool = True):
  """A Predict's checks and decoded inputs: (signature, runner, inputs).

  With `check_values` False and batching on, the inputs' dtype and shape
  checks are left to Servable.run_async(checked=False): once per batch.
  """
  signature_name = (request.model_spec.signature_name
                    or servable_lib.DEFAULT_SIGNATURE)
  servable.runner(signature_name)  # Fails first on an unknown signature.
  inputs = {alias: tensor_to_ndarray(alias, proto, max_elements)
            for alias, proto in request.inputs.items()}
  runner = servable.prepare_predict(
      signature_name, inputs, request.output_filter,
      check_values or not servable.batching)
  return signature_name, runner, inputs


def predict_response(servable: servable_lib.Servable,
                     request: predict_pb2.PredictRequest, signature_name: str,
                     outputs) -> predict_pb2.PredictResponse:
  """Outputs in the typed fields, as TF Serving writes them."""
  outputs = servable_lib.filter_outputs(outputs, request.output_filter)
  response = predict_pb2.PredictResponse()
  fill_model_spec(response.model_spec, request.model_spec.name,
                  servable.version, signature_name)
  for alias, value in outputs.items():
    response.outputs[alias].CopyFrom(tensor_proto.to_proto(value))
  return response


def predict(servable: servable_lib.Servable,
            request: predict_pb2.PredictRequest,
            deadline: Optional[float] = None,
            max_elements: Optional[int] = None) -> predict_pb2.PredictResponse:
  """Predict on protos (blocking; the event loop's path is prepare_predict,
  Servable.run_async, predict_response)."""
  signature_name, runner, inputs = prepare_predict(servable, request,
                                                   max_elements)
  outputs = servable.run(runner, inputs, deadline)
  return predict_response(servable, request, signature_name, outputs)


def _find_signature(servable, model_spec, method: str, check_method: bool):
  name = model_spec.signature_name or servable_lib.DEFAULT_SIGNATURE
  if name not in servable.signature_defs:
    raise status.invalid_argument(
        f'No signature was found with the name: {name}')
  signature = servable.signature_defs[name]
  if check_method and signature.method_name != method:
    kind = 'classification' if method.endswith('classify') else 'regression'
    raise status.invalid_argument(
        f'Expected {kind} signature method_name to be {method}. Was: '
        f'{signature.method_name}')
  return name, signature


def _check_classification(signature) -> List[str]:
  if len(signature.inputs) != 1:
    raise status.invalid_argument('Expected one input Tensor.')
  if len(signature.outputs) not in (1, 2):
    raise status.invalid_argument(
        f'Expected one or two output Tensors, found {len(signature.outputs)}')
  if CLASSIFY_INPUTS not in signature.inputs:
    raise status.failed_precondition(
        f'No classification inputs found in SignatureDef: {signature}')
  outputs = [k for k in (CLASSIFY_CLASSES, CLASSIFY_SCORES)
             if k in signature.outputs]
  if not outputs:
    raise status.failed_precondition(
        'Expected classification signature outputs to contain at least one '
        f'of "{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". Signature was: '
        f'{signature}')
  return outputs


def _check_regression(signature) -> List[str]:
  if len(signature.inputs) != 1:
    raise status.invalid_argument('Expected one input Tensor.')
  if len(signature.outputs) != 1:
    raise status.invalid_argument('Expected one output Tensor.')
  if REGRESS_INPUTS not in signature.inputs:
    raise status.failed_precondition(
        f'No regression inputs found in SignatureDef: {signature}')
  if REGRESS_OUTPUTS not in signature.outputs:
    raise status.failed_precondition(
        f'No regression outputs found in SignatureDef: {signature}')
  return [REGRESS_OUTPUTS]


def _run_examples(servable, signature_name, examples, deadline):
  runner = servable.runner(signature_name)
  inputs = {CLASSIFY_INPUTS: examples}
  runner.check_inputs(inputs)
  return servable.run(runner, inputs, deadline)


def _classification_result(outputs, num_examples, result) -> None:
  classes = outputs.get(CLASSIFY_CLASSES)
  scores = outputs.get(CLASSIFY_SCORES)
  for tensor, kind, want in ((classes, 'classes', 'DT_STRING'),
                             (scores, 'scores', 'DT_FLOAT')):
    if tensor is None:
      continue
    if tensor.ndim != 2:
      raise status.invalid_argument(
          'Expected Tensor shape: [batch_size num_classes] but got '
          f'{list(tensor.shape)}')
    is_string = tensor.dtype.kind in ('O', 'S', 'U')
    if (want == 'DT_STRING') != is_string or (
        not is_string and tensor.dtype != np.float32):
      raise status.invalid_argument(
          f'Expected {kind} Tensor of {want}. Got: '
          f'DT_{tf.dtypes.as_dtype(tensor.dtype).name.upper()}')
    if tensor.shape[0] != num_examples:
      raise status.invalid_argument(
          f'Expected {kind} output batch size of {num_examples}. Got: '
          f'{tensor.shape[0]}')
  if classes is not None and scores is not None and (
      classes.shape[1] != scores.shape[1]):
    raise status.invalid_argument(
        'Tensors class and score should match in dim_size(1). Got '
        f'{classes.shape[1]} vs. {scores.shape[1]}')
  num_classes = (classes if classes is not None else scores).shape[1]
  for i in range(num_examples):
    classifications = result.classifications.add()
    for c in range(num_classes):
      cls = classifications.classes.add()
      if classes is not None:
        cls.label = _to_text(classes[i, c])
      if scores is not None:
        cls.score = float(scores[i, c])


def _regression_result(outputs, num_examples, result) -> None:
  values = outputs[REGRESS_OUTPUTS]
  if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
    raise status.invalid_argument(
        'Expected output Tensor shape to be either [batch_size] or '
        f'[batch_size, 1] but got {list(values.shape)}')
  if values.dtype != np.float32:
    raise status.invalid_argument(
        f'Expected output Tensor of DT_FLOAT.  Got: {values.dtype}')
  if values.shape[0] != num_examples:
    raise status.invalid_argument(
        f'Expected output batch size of {num_examples}. Got: '
        f'{values.shape[0]}')
  for value in values.reshape(-1):
    result.regressions.add().value = float(value)


def _to_text(value) -> str:
  return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(
      value)


def classify(servable, request, deadline=None, check_method=False
             ) -> classification_pb2.ClassificationResponse:
  name, signature = _find_signature(servable, request.model_spec,
                                    servable_lib.CLASSIFY_METHOD, check_method)
  _check_classification(signature)
  examples = input_to_examples(request.input)
  outputs = _run_examples(servable, name, examples, deadline)
  response = classification_pb2.ClassificationResponse()
  fill_model_spec(response.model_spec, request.model_spec.name,
                  servable.version, name)
  _classification_result(outputs, len(examples), response.result)
  return response


def regress(servable, request, deadline=None, check_method=False
            ) -> regression_pb2.RegressionResponse:
  name, signature = _find_signature(servable, request.model_spec,
                                    servable_lib.REGRESS_METHOD, check_method)
  _check_regression(signature)
  examples = input_to_examples(request.input)
  outputs = _run_examples(servable, name, examples, deadline)
  response = regression_pb2.RegressionResponse()
  fill_model_spec(response.model_spec, request.model_spec.name,
                  servable.version, name)
  _regression_result(outputs, len(examples), response.result)
  return response


def multi_inference(servable, request, deadline=None
                    ) -> inference_pb2.MultiInferenceResponse:
  """Several classify/regress signatures on one shared Input."""
  model_name = ''
  seen = set()
  plan: List[Tuple[str, str, object]] = []
  for task in request.tasks:
    if not task.model_spec.name:
      raise status.invalid_argument(
          'Found ModelSpec with an empty model name.')
    if model_name and task.model_spec.name != model_name:
      raise status.invalid_argument(
          'All ModelSpecs in a MultiInferenceRequest must access the same '
          'model name.')
    model_name = task.model_spec.name
    name = task.model_spec.signature_name or servable_lib.DEFAULT_SIGNATURE
    if name in seen:
      raise status.invalid_argument(
          f'Duplicate evaluation of signature: {name}')
    seen.add(name)
    if name not in servable.signature_defs:
      raise status.invalid_argument(
          f'Requested signature not found in model graph: {name}')
    signature = servable.signature_defs[name]
    if task.method_name == servable_lib.CLASSIFY_METHOD:
      _check_classification(signature)
    elif task.method_name == servable_lib.REGRESS_METHOD:
      _check_regression(signature)
    else:
      raise status.ServingError(
          status.UNIMPLEMENTED,
          f'Unsupported signature method_name: {task.method_name}')
    plan.append((name, task.method_name, task))
  examples = input_to_examples(request.input)
  response = inference_pb2.MultiInferenceResponse()
  for name, method, task in plan:
    outputs = _run_examples(servable, name, examples, deadline)
    result = response.results.add()
    fill_model_spec(result.model_spec, task.model_spec.name,
                    servable.version, name)
    if method == servable_lib.CLASSIFY_METHOD:
      _classification_result(outputs, len(examples),
                             result.classification_result)
    else:
      _regression_result(outputs, len(examples), result.regression_result)
  return response


def model_metadata(servable, request
                   ) -> get_model_metadata_pb2.GetModelMetadataResponse:
  if not request.metadata_field:
    raise status.invalid_argument(
        'GetModelMetadataRequest must specify at least one metadata_field')
  for field in request.metadata_field:
    if field != SIGNATURE_DEF_FIELD:
      raise status.invalid_argument(f'Metadata field {field} is not supported')
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  for key, signature in servable.signature_defs.items():
    signature_map.signature_def[key].CopyFrom(signature)
  response = get_model_metadata_pb2.GetModelMetadataResponse()
  response.model_spec.name = servable.name
  response.model_spec.version.value = servable.version
  response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
  return response
