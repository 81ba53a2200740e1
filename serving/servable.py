"""One loaded model version: its SignatureDefs and how to run them.

A servable is what TF Serving's manager hands to a request: the MetaGraphDef
(for metadata and signature checks) plus something to execute signatures.
Both TF1 SavedModels (graph + Builder, classify/regress signatures) and TF2 /
Keras SavedModels load through `tf.saved_model.load`; the MetaGraphDef is read
from saved_model.pb because TF2's loaded object does not keep method names.
"""

import asyncio
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.eager import context
from tensorflow.python.framework import ops

from serving import status

# The C type tf.convert_to_tensor ends in, without its Python dispatch.
_EagerTensor = ops.EagerTensor

PREDICT_METHOD = 'tensorflow/serving/predict'
CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'
# TF Serving's own default (kDefaultServingSignatureDefKey), used for any
# model whose request names no signature; deliberately not taken from
# components.features, whose EXAMPLES_SIGNATURE is this project's choice
# (which happens to be the same name).
DEFAULT_SIGNATURE = 'serving_default'

def dtype_name(dtype: int) -> str:
  """'float' for DT_FLOAT, like tensorflow::DataTypeString."""
  from serving import json_tensor  # pylint: disable=g-import-not-at-top
  return json_tensor.dtype_string(dtype)


def read_meta_graph(export_dir: str,
                    tags: Sequence[str]) -> meta_graph_pb2.MetaGraphDef:
  """Reads the MetaGraphDef with exactly `tags` from a SavedModel dir."""
  pb_path = os.path.join(export_dir, 'saved_model.pb')
  pbtxt_path = os.path.join(export_dir, 'saved_model.pbtxt')
  saved_model = saved_model_pb2.SavedModel()
  if os.path.exists(pb_path):
    with open(pb_path, 'rb') as f:
      data = f.read()
    try:
      saved_model.ParseFromString(data)
    except Exception:  # pylint: disable=broad-except
      raise status.ServingError(
          status.DATA_LOSS, f'Could not parse SavedModel proto at {pb_path}'
      ) from None
  elif os.path.exists(pbtxt_path):
    from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
    with open(pbtxt_path, 'r', encoding='utf-8') as f:
      text_format.Parse(f.read(), saved_model)
  else:
    raise status.not_found(
        'Could not find SavedModel .pb or .pbtxt at supplied export '
        f'directory path: {export_dir}')
  for meta_graph in saved_model.meta_graphs:
    if set(meta_graph.meta_info_def.tags) == set(tags):
      return meta_graph
  raise status.not_found(
      'Could not find meta graph def matching supplied tags: { '
      + ' '.join(tags) + ' }. To inspect available tag-sets in the '
      'SavedModel, please use the SavedModel CLI: `saved_model_cli`')


class SignatureRunner:
  """Runs one signature of a loaded SavedModel on numpy inputs."""

  def __init__(self, name: str, signature_def, function):
    self.name = name
    self.signature_def = signature_def
    self._function = function
    specs = function.structured_input_signature[1]
    # Flat argument order of a signature function is sorted by input key.
    self.input_keys: List[str] = sorted(specs)
    self.input_specs: Dict[str, tf.TensorSpec] = dict(specs)
    # What check_inputs compares, computed once instead of per request
    # (TensorShape.is_compatible_with and dtype lookups cost ~15 us per
    # input, 0.2 ms per request for the 12 inputs of predict_raw).
    self._checks = [
        (index, key, dtype_name(self.input_specs[key].dtype.as_datatype_enum),
         _shape_pattern(self.input_specs[key].shape))
        for index, key in enumerate(self.input_keys)]
    self._dtype_enums = [self.input_specs[k].dtype.as_datatype_enum
                         for k in self.input_keys]
    self._fast = True
    self._fast_convert = True
    self.calls = 0  # Warmup runs every signature with none yet.

  def _tensors(self, inputs: Dict[str, np.ndarray]) -> list:
    """The inputs as eager tensors, in the function's flat argument order.

    EagerTensor is built directly: tf.convert_to_tensor's dispatch layers
    cost ~9 us per input on top of the ~5 us the conversion itself takes.
    Inputs were checked against the signature (check_inputs) already.
    """
    if self._fast_convert:
      try:
        context.ensure_initialized()
        device = context.context().device_name
        return [_EagerTensor(inputs[k], device, enum)
                for k, enum in zip(self.input_keys, self._dtype_enums)]
      except (AttributeError, TypeError, ValueError):
        self._fast_convert = False
    return [tf.convert_to_tensor(inputs[k], dtype=self.input_specs[k].dtype)
            for k in self.input_keys]

  def _call(self, inputs: Dict[str, np.ndarray]):
    tensors = self._tensors(inputs)
    if self._fast:
      try:
        # Skips the structured-argument binding of __call__ (~2x faster for
        # small models); inputs were already checked against the specs.
        return self._function._call_flat(  # pylint: disable=protected-access
            tensors, self._function.captured_inputs)
      except (AttributeError, TypeError):
        self._fast = False
    return self._function(**dict(zip(self.input_keys, tensors)))

  def run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    self.calls += 1
    try:
      outputs = self._call(inputs)
    except tf.errors.OpError as e:
      raise status.from_tf_exception(e) from None
    return {k: v.numpy() for k, v in outputs.items()}

  def default_inputs(self, rows: int = 1) -> Dict[str, np.ndarray]:
    """Zeros / empty strings in the signature's shapes, unknown dims = rows."""
    inputs = {}
    for key, spec in self.input_specs.items():
      shape = ([rows] if spec.shape.rank is None else
               [rows if d is None else d for d in spec.shape.as_list()])
      if spec.dtype == tf.string:
        value = np.full(shape, b'', dtype=object)
      else:
        value = np.zeros(shape, dtype=spec.dtype.as_numpy_dtype)
      inputs[key] = value
    return inputs

  def check_inputs(self, inputs: Dict[str, np.ndarray]) -> None:
    """Dtype and shape checks TF's runtime would make, as INVALID_ARGUMENT."""
    for index, key, want, pattern in self._checks:
      value = inputs[key]
      got = _numpy_dtype_name(value)
      if got != want:
        raise status.invalid_argument(
            f'Expects arg[{index}] to be {want} but {got} is provided')
      if not _shape_fits(pattern, value.shape):
        spec = self.input_specs[key]
        raise status.invalid_argument(
            f'Input {key!r} has shape {list(value.shape)}, which is not '
            f'compatible with the signature shape {_shape_str(spec.shape)}')


def _shape_pattern(shape: tf.TensorShape) -> Optional[tuple]:
  """None for an unknown rank, else one int or None (any) per dimension."""
  return None if shape.rank is None else tuple(shape.as_list())


def _shape_fits(pattern: Optional[tuple], shape: tuple) -> bool:
  """TensorShape.is_compatible_with on plain tuples."""
  if pattern is None:
    return True
  if len(pattern) != len(shape):
    return False
  return all(want is None or want == got for want, got in zip(pattern, shape))


def _shape_str(shape: tf.TensorShape) -> str:
  if shape.rank is None:
    return '[?]'
  return '[' + ','.join('?' if d is None else str(d) for d in shape) + ']'


_DTYPE_NAMES: Dict[np.dtype, str] = {}


def _numpy_dtype_name(value: np.ndarray) -> str:
  name = _DTYPE_NAMES.get(value.dtype)
  if name is None:
    if value.dtype.kind in ('O', 'S', 'U'):
      name = 'string'
    else:
      name = dtype_name(tf.dtypes.as_dtype(value.dtype).as_datatype_enum)
    _DTYPE_NAMES[value.dtype] = name
  return name


class Servable:
  """A loaded model version (what ServableHandle<SavedModelBundle> holds)."""

  def __init__(self, name: str, version: int, export_dir: str,
               tags: Sequence[str] = ('serve',)):
    self.name = name
    self.version = version
    self.export_dir = export_dir
    self.tags = list(tags)
    self.meta_graph: Optional[meta_graph_pb2.MetaGraphDef] = None
    self.runners: Dict[str, SignatureRunner] = {}
    self._loaded = None
    self._batcher = None
    self._plans: Dict[str, 'PredictPlan'] = {}
    self.unloaded = False

  @property
  def signature_defs(self):
    return self.meta_graph.signature_def

  def load(self) -> float:
    """Loads the SavedModel; returns the load latency in seconds."""
    start = time.monotonic()
    self.meta_graph = read_meta_graph(self.export_dir, self.tags)
    try:
      self._loaded = tf.saved_model.load(self.export_dir, tags=self.tags)
    except Exception as e:  # pylint: disable=broad-except
      raise status.from_tf_exception(e, status.INVALID_ARGUMENT) from None
    signatures = getattr(self._loaded, 'signatures', {})
    for key, signature_def in self.meta_graph.signature_def.items():
      if key in signatures:
        self.runners[key] = SignatureRunner(key, signature_def,
                                            signatures[key])
      elif not key.startswith('__'):  # e.g. __saved_model_init_op
        logging.warning('Signature %s of %s has no function; skipped.', key,
                        self.export_dir)
    return time.monotonic() - start

  def release(self) -> None:
    """Drops the model after a failed load (nothing can be using it)."""
    self.runners = {}
    self._plans = {}
    self._loaded = None

  def set_batcher(self, batcher) -> None:
    """Routes signature runs through a BatchScheduler (batching.py)."""
    self._batcher = batcher

  def unload(self) -> None:
    """Marks the version unloaded; it is freed once no request holds it.

    Nothing is torn down here: a request that resolved this version just
    before the swap still runs to completion on it (zero failed requests
    while versions change); Python frees the model with its last reference.
    """
    self.unloaded = True

  def runner(self, signature_name: str) -> SignatureRunner:
    runner = self.runners.get(signature_name or DEFAULT_SIGNATURE)
    if runner is None:
      raise status.failed_precondition(
          f'Serving signature key "{signature_name or DEFAULT_SIGNATURE}" '
          'not found.')
    return runner

  def run(self, runner: SignatureRunner, inputs: Dict[str, np.ndarray],
          deadline: Optional[float] = None) -> Dict[str, np.ndarray]:
    """Runs a signature, through the batcher when batching is on."""
    if self._batcher is not None:
      return self._batcher.run((id(self), runner.name), runner.run, inputs,
                               deadline)
    return runner.run(inputs)

  @property
  def batching(self) -> bool:
    return self._batcher is not None

  async def run_async(self, runner: SignatureRunner,
                      inputs: Dict[str, np.ndarray],
                      deadline: Optional[float], executor,
                      checked: bool = True) -> Dict[str, np.ndarray]:
    """`run` for a caller on the event loop: the batcher's future, or the
    graph run in `executor` (TensorFlow releases the GIL while it runs).

    With `checked` False the inputs have not been through
    runner.check_inputs: the batcher checks them, once per batch.
    """
    if self._batcher is not None:
      return await self._batcher.run_async(
          (id(self), runner.name), runner.run, inputs, deadline, executor,
          None if checked else runner.check_inputs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, runner.run, inputs)

  def predict_plan(self, signature_name: str) -> 'PredictPlan':
    """What Predict checks against one signature, worked out once.

    Cached per signature of this version, i.e. per (model, version,
    signature): reading the SignatureDef proto (its method name, input and
    output maps, input dtypes) costs more per request than the checks.
    """
    signature_name = signature_name or DEFAULT_SIGNATURE
    plan = self._plans.get(signature_name)
    if plan is None:
      plan = PredictPlan(self.runner(signature_name))
      self._plans[signature_name] = plan
    return plan

  def prepare_predict(self, signature_name: str,
                      inputs: Dict[str, np.ndarray],
                      output_filter: Sequence[str] = (),
                      check_values: bool = True) -> SignatureRunner:
    """TF Serving's RunPredict checks; the runner to run `inputs` with.

    `check_values` False leaves the dtype and shape checks to the batcher
    (run_async with checked=False), which makes them once per batch.
    """
    plan = self.predict_plan(signature_name)
    plan.check(inputs, output_filter, check_values)
    return plan.runner

  def predict(self, signature_name: str, inputs: Dict[str, np.ndarray],
              output_filter: Sequence[str] = (),
              deadline: Optional[float] = None) -> Dict[str, np.ndarray]:
    """TF Serving's RunPredict checks, then runs the signature."""
    runner = self.prepare_predict(signature_name, inputs, output_filter)
    outputs = self.run(runner, inputs, deadline)
    return filter_outputs(outputs, output_filter)


def filter_outputs(outputs: Dict[str, np.ndarray],
                   output_filter: Sequence[str]) -> Dict[str, np.ndarray]:
  if output_filter:
    return {k: outputs[k] for k in output_filter}
  return outputs


class PredictPlan:
  """A signature's Predict checks, with the proto lookups done once."""

  def __init__(self, runner: SignatureRunner):
    self.runner = runner
    signature = runner.signature_def
    self.method_error: Optional[status.ServingError] = None
    if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD,
                                     REGRESS_METHOD):
      self.method_error = status.internal(
          'Expected prediction signature method_name to be one of '
          f'{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. '
          f'Was: {signature.method_name}')
    self.expected = frozenset(signature.inputs)
    self.outputs = frozenset(signature.outputs)
    # Input alias -> DataType enum (what the REST JSON parser needs).
    self.input_dtypes = {k: v.dtype for k, v in signature.inputs.items()}

  def check(self, inputs: Dict[str, np.ndarray],
            output_filter: Sequence[str] = (),
            check_values: bool = True) -> None:
    if self.method_error is not None:
      raise self.method_error
    expected = self.expected
    if len(inputs) != len(expected) or not expected.issuperset(inputs):
      self._input_error(set(inputs))
    seen = set()
    for alias in output_filter:
      if alias not in self.outputs:
        raise status.invalid_argument(
            f'output tensor alias not found in signature: {alias} Outputs '
            f'expected to be in the set '
            f'{{{",".join(sorted(self.outputs))}}}.')
      if alias in seen:
        raise status.invalid_argument(
            f'duplicate output tensor alias: {alias}')
      seen.add(alias)
    if check_values:
      self.runner.check_inputs(inputs)

  def _input_error(self, sent) -> None:
    expected = self.expected
    if len(sent) != len(expected):
      raise status.invalid_argument(
          f'input size does not match signature: {len(sent)}!='
          f'{len(expected)} len({{{",".join(sorted(sent))}}}) != '
          f'len({{{",".join(sorted(expected))}}}). Sent extra: '
          f'{{{",".join(sorted(sent - expected))}}}. Missing but required: '
          f'{{{",".join(sorted(expected - sent))}}}.')
    for alias in sorted(sent):
      if alias not in expected:
        raise status.invalid_argument(
            f'input tensor alias not found in signature: {alias}. Inputs '
            f'expected to be in the set {{{",".join(sorted(expected))}}}.')
