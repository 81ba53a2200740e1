"""Serving signatures: the Transform graph in front of the model.

`serving_default` takes serialized tf.Examples (TF Serving predict over gRPC,
or REST with {"b64": ...}); `predict_raw` takes one tensor per raw feature
(JSON clients). Both run the same Transform graph as training.

With a dataset spec, `predict_raw` is typed per column: a numeric column is
a float (NaN: missing), a categorical or text column a string ('':
missing), whatever type CsvExampleGen gave the column in the examples (a
categorical of integer codes, such as an hour, is sent as its text and
parsed in the graph). Without one (the CFPB model), every input is a string.
"""

import os

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from components import attributions
from components import features

OUTPUT_KEY = features.OUTPUT_KEY
WARMUP_FILE = features.WARMUP_FILE


# What a left-out value of a required (FixedLen) feature parses as: the
# empty string and NaN are what Transform reads as missing; an integer
# column has no such value, so -1 (out of every vocabulary and range).
_MISSING_BY_DTYPE = {tf.string: '', tf.float32: float('nan'), tf.int64: -1}


def raw_keys(spec=None):
  """The model's raw inputs, in signature order."""
  return [f.key for f in spec.features] if spec else features.RAW_FEATURES


def wire_dtype(spec, key: str) -> tf.DType:
  """The type a client sends a raw input as (predict_raw)."""
  if spec is None:
    return tf.string
  kind = {f.key: f.kind for f in spec.features}[key]
  return tf.float32 if kind == 'numeric' else tf.string


def _raw_spec(tf_transform_output, spec=None):
  """The raw feature spec restricted to the model's inputs (no label, no id)."""
  raw = tf_transform_output.raw_feature_spec()
  raw = {key: raw[key] for key in raw_keys(spec)}

  # A feature the schema calls required may still be left out by a client:
  # parse it as missing, which Transform maps to the MISSING token (or, for
  # a number, to 0 with its missing-value indicator set).
  def lenient(value):
    if not isinstance(value, tf.io.FixedLenFeature):
      return value
    missing = _MISSING_BY_DTYPE[value.dtype]
    return tf.io.FixedLenFeature(value.shape, value.dtype, default_value=(
        [missing] * (value.shape[0] if value.shape else 1) if value.shape
        else missing))
  return {key: lenient(value) for key, value in raw.items()}


def _present_and_typed(value, dtype: tf.DType):
  """(present mask, values in the raw dtype) of a dense [N] wire tensor."""
  if value.dtype == tf.string:
    present = tf.not_equal(value, '')
    if dtype == tf.string:
      return present, value
    text = tf.where(present, value, '0')
    return present, tf.strings.to_number(text, out_type=dtype)
  present = tf.logical_not(tf.math.is_nan(value))
  if dtype == tf.string:
    return present, tf.strings.as_string(value)
  return present, tf.cast(tf.where(present, value, 0.0), dtype)


def _as_raw_format(spec, value):
  """Dense [N] wire values -> the tensor kind and type the raw spec expects
  ('' or NaN: missing)."""
  mask, typed = _present_and_typed(value, spec.dtype)
  if isinstance(spec, tf.io.VarLenFeature):
    present = tf.where(mask)
    indices = tf.concat([present, tf.zeros_like(present)], axis=1)
    return tf.SparseTensor(indices, tf.gather_nd(typed, present),
                           tf.stack([tf.size(value, out_type=tf.int64),
                                     tf.constant(1, tf.int64)]))
  if spec.dtype != tf.string or value.dtype != tf.string:
    missing = tf.cast(tf.constant(_MISSING_BY_DTYPE[spec.dtype]), spec.dtype)
    typed = tf.where(mask, typed, missing)
  return tf.reshape(typed, [-1] + list(spec.shape))


def export(model, tf_transform_output, export_dir: str, spec=None,
           reference=None) -> None:
  """Saves the model with its signatures and TF Serving warm-up requests
  (spec: the dataset spec; None: the CFPB model's string inputs).

  Besides `serving_default` and `predict_raw`, `explain` takes
  predict_raw's inputs and answers the probabilities with each raw
  feature's attribution (components/attributions.py), measured from
  `reference` (attributions.reference_means over the eval split; None:
  from the bias); assets.extra/explain.json names its feature axis.
  """
  model.tft_layer = tf_transform_output.transform_features_layer()
  raw_spec = _raw_spec(tf_transform_output, spec)
  keys = raw_keys(spec)
  output_key = spec.output_key if spec else OUTPUT_KEY
  explain = attributions.export_function(model, output_key, spec, reference)

  def predict(raw):
    return {output_key: model(model.tft_layer(raw))}

  def raw_inputs(values):
    return {key: _as_raw_format(raw_spec[key], value)
            for key, value in zip(keys, values)}

  by_column = [tf.TensorSpec([None], wire_dtype(spec, key), name=key)
               for key in keys]

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name=features.EXAMPLES_INPUT)])
  def serve_examples(examples):
    return predict(tf.io.parse_example(examples, raw_spec))

  @tf.function(input_signature=by_column)
  def serve_raw(*values):
    return predict(raw_inputs(values))

  @tf.function(input_signature=by_column)
  def serve_explain(*values):
    transformed = model.tft_layer(raw_inputs(values))
    return dict(explain(transformed), **{output_key: model(transformed)})

  model.save(export_dir, save_format='tf', signatures={
      features.EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
      features.RAW_SIGNATURE: serve_raw.get_concrete_function(),
      attributions.SIGNATURE: serve_explain.get_concrete_function(),
  })
  write_warmup_requests(export_dir, spec)
  attributions.write_description(
      export_dir, attributions.description(model, spec, reference))


def example_from_fields(fields) -> tf.train.Example:
  """A tf.Example of the CFPB model's raw string features (missing fields
  are left out; any data set's rows: `typed_example`)."""
  example = tf.train.Example()
  for key in features.RAW_FEATURES:
    value = str(fields.get(key, '') or '')
    if value:
      example.features.feature[key].bytes_list.value.append(value.encode())
  return example


WARMUP_COMPLAINT = {
    features.PRODUCT: 'Mortgage',
    features.ISSUE: 'Loan servicing, payments, escrow account',
    features.COMPANY_RESPONSE: 'Closed with explanation',
    features.TIMELY_RESPONSE: 'Yes', features.STATE: 'CA',
    features.ZIP_CODE: '940XX', features.SUBMITTED_VIA: 'Web',
    features.NARRATIVE: 'My payment was applied late and I was charged a fee.',
}


WARMUP_BATCH_SIZES = (1, 2)  # a batch of 2 traces another shape than 1


def raw_types(raw_feature_spec):
  """{key: 'int64' | 'float' | 'bytes'} of a raw feature spec (what
  tft.TFTransformOutput.raw_feature_spec() gives)."""
  names = {tf.int64: 'int64', tf.float32: 'float'}
  return {key: names.get(value.dtype, 'bytes')
          for key, value in raw_feature_spec.items()}


def typed_example(fields, types) -> tf.train.Example:
  """A tf.Example of one row: each present value as its column's type in
  the examples (types: {key: 'int64' | 'float' | 'bytes'}, e.g.
  `raw_types` of a Transform graph's raw feature spec); '' or None is left
  out (missing).

  Raises:
    ValueError: a value that is not a number where the column holds numbers.
  """
  example = tf.train.Example()
  for key, kind in types.items():
    value = fields.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
      continue
    if isinstance(value, float) and value != value:  # NaN: missing
      continue
    feature = example.features.feature[key]
    try:
      if kind == 'int64':
        number = float(value)
        if number != int(number):
          raise ValueError
        feature.int64_list.value.append(int(number))
      elif kind == 'float':
        feature.float_list.value.append(float(value))
      else:
        feature.bytes_list.value.append(str(value).strip().encode())
    except (TypeError, ValueError):
      raise ValueError(f'{key}: {value!r} is not a'
                       f'{"n integer" if kind == "int64" else " number"}'
                       ) from None
  return example


def warmup_requests(spec=None):
  """PredictRequests for every signature the clients call, at each size.

  TF Serving replays them before a new version takes traffic, so neither
  signature's first real request pays for tracing the graph. With a spec,
  the row is all missing values: it traces the same graph as any row.
  """
  if spec is None:
    example = example_from_fields(WARMUP_COMPLAINT).SerializeToString()
    raw = {key: (str(WARMUP_COMPLAINT.get(key, '')).encode(), tf.string)
           for key in features.RAW_FEATURES}
  else:
    example = tf.train.Example().SerializeToString()
    raw = {}
    for key in raw_keys(spec):
      dtype = wire_dtype(spec, key)
      raw[key] = (float('nan') if dtype == tf.float32 else b'', dtype)
  requests = []
  for rows in WARMUP_BATCH_SIZES:
    examples = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        signature_name=features.EXAMPLES_SIGNATURE))
    examples.inputs[features.EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto([example] * rows, dtype=tf.string))
    by_column = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        signature_name=features.RAW_SIGNATURE))
    for key, (value, dtype) in raw.items():
      by_column.inputs[key].CopyFrom(
          tf.make_tensor_proto([value] * rows, dtype=dtype))
    requests += [examples, by_column]
  return requests


def write_warmup_requests(export_dir: str, spec=None) -> None:
  """TF Serving replays these before a new version takes traffic."""
  os.makedirs(os.path.join(export_dir, 'assets.extra'), exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(export_dir, WARMUP_FILE)) as writer:
    for request in warmup_requests(spec):
      writer.write(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(
              request=request)).SerializeToString())
