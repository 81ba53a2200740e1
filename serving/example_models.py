"""Small SavedModels for tests, benchmarks and demos of the model server.

* `write_half_plus_two`: TF1-style (graph + Builder) y = a*x + b with predict,
  classify and regress signatures, like TF Serving's `saved_model_half_plus_two`.
* `write_keras_half_plus_two`: the same function as a TF2/Keras SavedModel.
* `write_complaint_model`: an untrained model with the pipeline's serving
  contract (`serving_default` on serialized tf.Examples, `predict_raw` on raw
  string features), so the server and clients can be exercised without
  running the pipeline. Replace with your own model builders as needed.

Every writer returns the version directory and can add TF Serving's warmup
file (`assets.extra/tf_serving_warmup_requests`).
"""

import os
from typing import Dict, Iterable, List

import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from components import features

WARMUP_FILE = features.WARMUP_FILE


def float_example(x: float) -> tf.train.Example:
  return tf.train.Example(features=tf.train.Features(feature={
      'x': tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}))


def raw_example(raw: Dict[str, str]) -> tf.train.Example:
  """A tf.Example with one bytes feature per RAW_FEATURES name."""
  return tf.train.Example(features=tf.train.Features(feature={
      name: tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[str(raw.get(name, '')).encode('utf-8')]))
      for name in features.RAW_FEATURES}))


def write_warmup_requests(version_dir: str,
                          logs: Iterable[prediction_log_pb2.PredictionLog]
                          ) -> str:
  """Writes PredictionLogs as TF Serving's warmup TFRecord file."""
  path = os.path.join(version_dir, WARMUP_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs:
      writer.write(log.SerializeToString())
  return path


def predict_log(model_name: str, signature: str,
                inputs: Dict[str, tf.Tensor]) -> prediction_log_pb2.PredictionLog:
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  for key, value in inputs.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def write_half_plus_two(base_path: str, version: int, a: float = 0.5,
                        b: float = 2.0, warmup: bool = False) -> str:
  """TF1-style SavedModel: y = a*x + b, with predict/classify/regress.

  Signatures:
    serving_default (predict): x DT_FLOAT [-1] -> y DT_FLOAT [-1]
    classify_x_to_y (classify): inputs (serialized tf.Example with float
      feature x) -> scores DT_FLOAT [-1, 1]
    regress_x_to_y (regress): inputs -> outputs DT_FLOAT [-1, 1]
    two_inputs (predict): x DT_FLOAT [-1], s DT_STRING [-1] ->
      y DT_FLOAT [-1], s_bytes DT_STRING [-1] (s echoed back)
    matrix (predict): m DT_FLOAT [-1, 3] -> y DT_FLOAT [-1, 3]
  """
  export_dir = os.path.join(base_path, str(version))
  v1 = tf.compat.v1
  with tf.Graph().as_default():
    var_a = v1.Variable(a, name='a')
    var_b = v1.Variable(b, name='b')
    serialized = v1.placeholder(tf.string, shape=[None], name='tf_example')
    parsed = v1.io.parse_example(
        serialized, {'x': tf.io.FixedLenFeature([1], tf.float32)})
    y_ex = tf.add(var_a * parsed['x'], var_b, name='y_from_examples')
    x = v1.placeholder(tf.float32, shape=[None], name='x')
    y = tf.add(var_a * x, var_b, name='y')
    s = v1.placeholder(tf.string, shape=[None], name='s')
    s_out = tf.identity(s, name='s_out')
    m = v1.placeholder(tf.float32, shape=[None, 3], name='m')
    y_m = tf.add(var_a * m, var_b, name='y_m')
    sigs = v1.saved_model
    signature_map = {
        'serving_default': sigs.predict_signature_def({'x': x}, {'y': y}),
        'classify_x_to_y': sigs.classification_signature_def(
            serialized, None, y_ex),
        'regress_x_to_y': sigs.regression_signature_def(serialized, y_ex),
        'two_inputs': sigs.predict_signature_def(
            {'x': x, 's': s}, {'y': y, 's_bytes': s_out}),
        'matrix': sigs.predict_signature_def({'m': m}, {'y': y_m}),
    }
    with v1.Session() as sess:
      sess.run(v1.global_variables_initializer())
      builder = sigs.Builder(export_dir)
      builder.add_meta_graph_and_variables(
          sess, [tf.saved_model.SERVING], signature_def_map=signature_map)
      builder.save()
  if warmup:
    write_warmup_requests(export_dir, half_plus_two_warmup_logs())
  return export_dir


def half_plus_two_warmup_logs() -> List[prediction_log_pb2.PredictionLog]:
  """One record of each kind TF Serving replays: predict, classify, regress."""
  examples = [float_example(1.0).SerializeToString()]
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.signature_name = 'classify_x_to_y'
  classify.input.example_list.examples.add().ParseFromString(examples[0])
  regress = regression_pb2.RegressionRequest()
  regress.model_spec.signature_name = 'regress_x_to_y'
  regress.input.example_list.examples.add().ParseFromString(examples[0])
  return [
      predict_log('half_plus_two', 'serving_default',
                  {'x': tf.constant([1.0, 2.0])}),
      prediction_log_pb2.PredictionLog(
          classify_log=prediction_log_pb2.ClassifyLog(request=classify)),
      prediction_log_pb2.PredictionLog(
          regress_log=prediction_log_pb2.RegressLog(request=regress)),
  ]


class _HalfPlusTwo(tf.Module):
  """TF2 module: y = a*x + b on floats and on serialized tf.Examples."""

  def __init__(self, a: float, b: float):
    super().__init__()
    self.a = tf.Variable(a)
    self.b = tf.Variable(b)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name='x')])
  def predict(self, x):
    return {'y': self.a * x + self.b}

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name='inputs')])
  def regress(self, inputs):
    parsed = tf.io.parse_example(
        inputs, {'x': tf.io.FixedLenFeature([1], tf.float32)})
    return {'outputs': self.a * parsed['x'] + self.b}


def write_keras_half_plus_two(base_path: str, version: int, a: float = 0.5,
                              b: float = 2.0) -> str:
  """TF2 SavedModel (tf.Module + a Keras layer) with the same function.

  Signatures (method name `tensorflow/serving/predict`, as TF2 writes them):
    serving_default: x DT_FLOAT [-1] -> y DT_FLOAT [-1]
    regress_x_to_y: inputs DT_STRING [-1] -> outputs DT_FLOAT [-1, 1]
  """
  import tf_keras  # pylint: disable=g-import-not-at-top
  export_dir = os.path.join(base_path, str(version))
  module = _HalfPlusTwo(a, b)
  # A Keras layer in the object graph keeps this a "Keras SavedModel".
  module.layer = tf_keras.layers.Dense(1)
  module.layer.build((None, 1))
  tf.saved_model.save(module, export_dir, signatures={
      'serving_default': module.predict, 'regress_x_to_y': module.regress})
  return export_dir


# Sizes of the stand-in's lookups: close to the pipeline model's real
# vocabularies, so serving benchmarks pay a comparable preprocessing cost.
STAND_IN_VOCAB_SIZE = 200
STAND_IN_TEXT_LENGTH = 128


def write_complaint_model(base_path: str, version: int, seed: int = 0,
                          warmup: bool = True,
                          model_name: str = 'complaints',
                          warmup_signatures=(features.EXAMPLES_SIGNATURE,
                                             features.RAW_SIGNATURE)
                          ) -> str:
  """An untrained model honouring the pipeline's serving contract.

  `serving_default`: examples DT_STRING [-1] (serialized tf.Example of raw
  string features) -> disputed_probability DT_FLOAT [-1, 1];
  `predict_raw`: one DT_STRING [-1] input per RAW_FEATURES name -> the same.
  Its preprocessing (lower-casing, tokenizing, vocabulary lookups, embedding
  bags) costs about what the pipeline's Transform graph does. The warmup
  file has a record for each of `warmup_signatures` (the pipeline's own
  export writes only serving_default).
  """
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  tf.random.set_seed(seed)
  export_dir = os.path.join(base_path, str(version))
  inputs = {k: keras.Input(shape=(), dtype=tf.string, name=k)
            for k in features.RAW_FEATURES}
  encoded = []
  for key in features.CATEGORICAL_FEATURES:
    lookup = keras.layers.StringLookup(
        vocabulary=[f'{key}_{i}' for i in range(STAND_IN_VOCAB_SIZE)],
        num_oov_indices=features.OOV_BUCKETS)
    embed = keras.layers.Embedding(
        STAND_IN_VOCAB_SIZE + features.OOV_BUCKETS + 1, 4)
    encoded.append(embed(lookup(inputs[key])))
  zip_prefix = keras.layers.Lambda(
      lambda z: tf.strings.substr(z, 0, features.ZIP_PREFIX_LENGTH))(
          inputs[features.ZIP_FEATURE])
  zip_lookup = keras.layers.StringLookup(
      vocabulary=[f'{i:03d}' for i in range(1000)])
  encoded.append(keras.layers.Embedding(1002, 4)(zip_lookup(zip_prefix)))
  text = keras.layers.TextVectorization(
      vocabulary=[f'w{i}' for i in range(2000)],
      output_sequence_length=STAND_IN_TEXT_LENGTH)(
          inputs[features.TEXT_FEATURE])
  bag = keras.layers.GlobalAveragePooling1D()(
      keras.layers.Embedding(2002, 16, mask_zero=True)(text))
  hidden = keras.layers.Dense(32, activation='relu')(
      keras.layers.Concatenate()(encoded + [bag]))
  output = keras.layers.Dense(1, activation='sigmoid')(hidden)
  model = keras.Model(inputs, output)

  raw_spec = {k: tf.TensorSpec([None], tf.string, name=k)
              for k in features.RAW_FEATURES}
  parse_spec = {k: tf.io.FixedLenFeature([], tf.string, default_value='')
                for k in features.RAW_FEATURES}

  @tf.function(input_signature=[raw_spec])
  def predict_raw(raw):
    return {features.OUTPUT_KEY: model(raw)}

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name=features.EXAMPLES_INPUT)])
  def serve_examples(examples):
    return {features.OUTPUT_KEY: model(
        tf.io.parse_example(examples, parse_spec))}

  tf.saved_model.save(model, export_dir, signatures={
      features.EXAMPLES_SIGNATURE: serve_examples,
      features.RAW_SIGNATURE: predict_raw.get_concrete_function()})
  if warmup:
    sample = {k: f'{k}_1' for k in features.RAW_FEATURES}
    sample[features.TEXT_FEATURE] = 'w1 w2 the bank charged me twice'
    logs = {
        features.EXAMPLES_SIGNATURE: predict_log(
            model_name, features.EXAMPLES_SIGNATURE,
            {features.EXAMPLES_INPUT: tf.constant(
                [raw_example(sample).SerializeToString()])}),
        features.RAW_SIGNATURE: predict_log(
            model_name, features.RAW_SIGNATURE,
            {k: tf.constant([v]) for k, v in sample.items()}),
    }
    write_warmup_requests(export_dir,
                          [logs[name] for name in warmup_signatures])
  return export_dir


def sample_complaints(n: int, seed: int = 0) -> List[Dict[str, str]]:
  """Synthetic raw complaints keyed by the export's column names."""
  import random  # pylint: disable=g-import-not-at-top
  rng = random.Random(seed)
  rows = []
  for i in range(n):
    row = {column: f'{key}_{rng.randrange(20)}'
           for column, key in features.EXPORT_TO_FEATURE.items()}
    row['ZIP code'] = f'{rng.randrange(1000):03d}XX'
    row['Consumer complaint narrative'] = ' '.join(
        f'w{rng.randrange(3000)}' for _ in range(20 + i % 30))
    rows.append(row)
  return rows




class _Slow(tf.Module):
  """TF2 module that busy-waits max(seconds) in the graph, then echoes it."""

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.float32, name='seconds')])
  def spin(self, seconds):
    wait = tf.maximum(tf.cast(tf.reduce_max(
        tf.concat([seconds, [0.0]], 0)), tf.float64), 0.0)
    end = tf.timestamp() + wait
    count = tf.while_loop(lambda i: tf.timestamp() < end, lambda i: i + 1,
                          [tf.constant(0, tf.int64)])[0]
    with tf.control_dependencies([count]):
      return {'y': tf.identity(seconds)}


def write_slow_model(base_path: str, version: int) -> str:
  """A model whose call takes as long as its input says: timeout tests.

  `serving_default`: seconds DT_FLOAT [-1] -> y DT_FLOAT [-1] (= seconds),
  after spinning max(seconds) seconds inside the graph (no sleep op exists
  that a SavedModel can carry, and a spin needs no Python).
  """
  export_dir = os.path.join(base_path, str(version))
  module = _Slow()
  tf.saved_model.save(module, export_dir,
                      signatures={'serving_default': module.spin})
  return export_dir
