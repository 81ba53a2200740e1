"""Serving signatures: the Transform graph in front of the model.

`serving_default` takes serialized tf.Examples (TF Serving predict over gRPC,
or REST with {"b64": ...}); `predict_raw` takes one string tensor per raw
feature (JSON clients). Both run the same Transform graph as training.
"""

import os

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from components import features

OUTPUT_KEY = features.OUTPUT_KEY
WARMUP_FILE = features.WARMUP_FILE


def _raw_spec(tf_transform_output):
  """The raw feature spec restricted to the model's inputs (no label, no id)."""
  spec = tf_transform_output.raw_feature_spec()
  spec = {key: spec[key] for key in features.RAW_FEATURES}
  # A feature the schema calls required may still be left out by a client:
  # parse it as missing (''), which Transform maps to the MISSING token.
  return {key: (tf.io.FixedLenFeature(value.shape, value.dtype, default_value=(
      [''] * (value.shape[0] if value.shape else 1) if value.shape else ''))
                if isinstance(value, tf.io.FixedLenFeature) else value)
          for key, value in spec.items()}


def _as_raw_format(spec, value):
  """Dense [N] strings -> the tensor kind the raw spec expects ('' = missing)."""
  if isinstance(spec, tf.io.VarLenFeature):
    present = tf.where(tf.not_equal(value, ''))
    indices = tf.concat([present, tf.zeros_like(present)], axis=1)
    return tf.SparseTensor(indices, tf.gather_nd(value, present),
                           tf.stack([tf.size(value, out_type=tf.int64),
                                     tf.constant(1, tf.int64)]))
  return tf.reshape(value, [-1] + list(spec.shape))


def export(model, tf_transform_output, export_dir: str) -> None:
  """Saves the model with both signatures and TF Serving warm-up requests."""
  model.tft_layer = tf_transform_output.transform_features_layer()
  raw_spec = _raw_spec(tf_transform_output)

  def predict(raw):
    return {OUTPUT_KEY: model(model.tft_layer(raw))}

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name=features.EXAMPLES_INPUT)])
  def serve_examples(examples):
    return predict(tf.io.parse_example(examples, raw_spec))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name=key)
      for key in features.RAW_FEATURES])
  def serve_raw(*values):
    return predict({key: _as_raw_format(raw_spec[key], value)
                    for key, value in zip(features.RAW_FEATURES, values)})

  model.save(export_dir, save_format='tf', signatures={
      features.EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
      features.RAW_SIGNATURE: serve_raw.get_concrete_function(),
  })
  write_warmup_requests(export_dir)


def example_from_fields(fields) -> tf.train.Example:
  """A tf.Example of raw string features (missing fields are left out)."""
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


def warmup_requests():
  """PredictRequests for every signature the clients call, at each size.

  TF Serving replays them before a new version takes traffic, so neither
  signature's first real request pays for tracing the graph.
  """
  requests = []
  complaint = example_from_fields(WARMUP_COMPLAINT).SerializeToString()
  for rows in WARMUP_BATCH_SIZES:
    examples = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        signature_name=features.EXAMPLES_SIGNATURE))
    examples.inputs[features.EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto([complaint] * rows, dtype=tf.string))
    raw = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        signature_name=features.RAW_SIGNATURE))
    for key in features.RAW_FEATURES:
      raw.inputs[key].CopyFrom(tf.make_tensor_proto(
          [str(WARMUP_COMPLAINT.get(key, '')).encode()] * rows,
          dtype=tf.string))
    requests += [examples, raw]
  return requests


def write_warmup_requests(export_dir: str) -> None:
  """TF Serving replays these before a new version takes traffic."""
  os.makedirs(os.path.join(export_dir, 'assets.extra'), exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(export_dir, WARMUP_FILE)) as writer:
    for request in warmup_requests():
      writer.write(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(
              request=request)).SerializeToString())
