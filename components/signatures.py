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

OUTPUT_KEY = 'disputed_probability'
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')


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
      tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    return predict(tf.io.parse_example(examples, raw_spec))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name=key)
      for key in features.RAW_FEATURES])
  def serve_raw(*values):
    return predict({key: _as_raw_format(raw_spec[key], value)
                    for key, value in zip(features.RAW_FEATURES, values)})

  model.save(export_dir, save_format='tf', signatures={
      'serving_default': serve_examples.get_concrete_function(),
      'predict_raw': serve_raw.get_concrete_function(),
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
    'product': 'Mortgage', 'issue': 'Loan servicing, payments, escrow account',
    'company_response': 'Closed with explanation', 'timely_response': 'Yes',
    'state': 'CA', 'zip_code': '940XX', 'submitted_via': 'Web',
    'narrative': 'My payment was applied late and I was charged a fee.',
}


def write_warmup_requests(export_dir: str) -> None:
  """TF Serving replays these before a new version takes traffic."""
  request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(signature_name='serving_default'))
  request.inputs['examples'].CopyFrom(tf.make_tensor_proto(
      [example_from_fields(WARMUP_COMPLAINT).SerializeToString()],
      dtype=tf.string))
  log = prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))
  os.makedirs(os.path.join(export_dir, 'assets.extra'), exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(export_dir, WARMUP_FILE)) as writer:
    writer.write(log.SerializeToString())
