"""The Keras model (`get_model`) and the Trainer's entry point (`run_fn`).

`run_fn` stays thin: `train(...)` fits, `export(...)` writes the SavedModel
with the Transform graph attached, so both are testable without TFX.
"""

import json
import os
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components import features
from components import signatures

# Replace with your own search space / defaults (the Tuner overrides them).
DEFAULT_HPARAMS: Dict[str, Any] = {
    'learning_rate': 3e-3,
    'hidden_units': 64,
    'embedding_dim': 16,
}
BATCH_SIZE = 128
# The train steps are split into this many epochs, so the training curve
# (loss and AUC on train and eval) has points to plot and to record.
EPOCHS = 10
HISTORY_FILE = 'training_history.json'  # in the Trainer's model_run dir


def _num_ids(key: str) -> int:
  """Number of distinct ids Transform can emit for a categorical feature."""
  if key == features.ZIP_FEATURE:
    return features.ZIP_VOCAB_SIZE + features.OOV_BUCKETS
  return features.CATEGORICAL_FEATURES[key] + features.OOV_BUCKETS


def get_model(hparams: Dict[str, Any], label_rate: float = 0.2) -> tf.keras.Model:
  """Wide one-hot categoricals plus an embedding bag over narrative words.

  Args:
    hparams: learning_rate, hidden_units, embedding_dim.
    label_rate: share of disputed complaints; initializes the output bias to
      the log-odds of the base rate so the imbalance does not slow training
      and the probabilities stay calibrated (class weights would not).
  """
  inputs, wide = {}, []
  for key in list(features.CATEGORICAL_FEATURES) + [features.ZIP_FEATURE]:
    name = features.transformed_name(key)
    inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
    wide.append(tf.keras.layers.CategoryEncoding(
        num_tokens=_num_ids(key), output_mode='one_hot')(inputs[name]))
  text_name = features.transformed_name(features.TEXT_FEATURE)
  inputs[text_name] = tf.keras.Input(
      shape=(features.TEXT_MAX_TOKENS,), name=text_name, dtype=tf.int64)
  embedded = tf.keras.layers.Embedding(
      features.TEXT_VOCAB_SIZE + features.TEXT_OOV_BUCKETS + 1,
      int(hparams['embedding_dim']))(inputs[text_name])
  # Mean over real words (id 0 pads). Keras' masked average divides by zero
  # for an empty narrative (NaN), and most complaints have no narrative.
  present = tf.expand_dims(
      tf.cast(tf.greater(inputs[text_name], 0), tf.float32), -1)
  text = tf.reduce_sum(embedded * present, axis=1) / tf.maximum(
      tf.reduce_sum(present, axis=1), 1.0)

  merged = tf.keras.layers.concatenate(wide + [text])
  hidden = tf.keras.layers.Dense(
      int(hparams['hidden_units']), activation='relu')(merged)
  bias = float(tf.math.log(label_rate / (1.0 - label_rate)))
  output = tf.keras.layers.Dense(
      1, activation='sigmoid', name='disputed_probability',
      bias_initializer=tf.keras.initializers.Constant(bias))(hidden)
  model = tf.keras.Model(inputs=inputs, outputs=output)
  model.compile(
      optimizer=tf.keras.optimizers.Adam(float(hparams['learning_rate'])),
      loss='binary_crossentropy',
      metrics=[tf.keras.metrics.AUC(name='auc')])
  return model


def make_dataset(file_pattern: List[str], data_accessor,
                 tf_transform_output: tft.TFTransformOutput,
                 batch_size: int = BATCH_SIZE) -> tf.data.Dataset:
  """Batches of (transformed features, label) from Transform's output."""
  return data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(
          batch_size=batch_size, label_key=features.LABEL_KEY),
      tf_transform_output.transformed_metadata.schema).repeat()


def estimate_label_rate(dataset: tf.data.Dataset, batches: int = 20) -> float:
  """Share of positives in the first batches (for the output bias)."""
  positives = total = 0.0
  for _, label in dataset.take(batches):
    positives += float(tf.reduce_sum(tf.cast(label, tf.float32)))
    total += float(tf.size(label))
  rate = positives / max(total, 1.0)
  return min(max(rate, 0.01), 0.99)


def train(fn_args, tf_transform_output, hparams) -> tf.keras.Model:
  """Fits for fn_args.train_steps, recording the curve in model_run_dir."""
  tf.keras.utils.set_random_seed(int(fn_args.custom_config.get('seed', 42))
                                 if fn_args.custom_config else 42)
  train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor,
                          tf_transform_output)
  eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor,
                         tf_transform_output)
  label_rate = estimate_label_rate(train_ds)
  model = get_model(hparams, label_rate)
  epochs = max(1, min(EPOCHS, fn_args.train_steps))
  history = model.fit(
      train_ds, epochs=epochs, steps_per_epoch=fn_args.train_steps // epochs,
      validation_data=eval_ds,
      validation_steps=max(1, fn_args.eval_steps // epochs),
      callbacks=[tf.keras.callbacks.TensorBoard(
          log_dir=fn_args.model_run_dir, update_freq='epoch')],
      verbose=2)
  write_history(fn_args.model_run_dir, history.history, hparams, label_rate,
                steps_per_epoch=fn_args.train_steps // epochs)
  return model


def write_history(model_run_dir: str, history: Dict[str, List[float]],
                  hparams: Dict[str, Any], label_rate: float,
                  steps_per_epoch: int) -> str:
  """Writes the training curve and its settings as JSON (for lineage)."""
  record = {'hyperparameters': {k: v for k, v in hparams.items()},
            'label_rate': label_rate, 'steps_per_epoch': steps_per_epoch,
            'epochs': len(next(iter(history.values()), [])),
            'history': {k: [float(v) for v in values]
                        for k, values in history.items()}}
  tf.io.gfile.makedirs(model_run_dir)
  path = os.path.join(model_run_dir, HISTORY_FILE)
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(record, indent=1, sort_keys=True))
  return path


def run_fn(fn_args) -> None:
  """TFX Trainer entry point: train, then export with both signatures."""
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  hparams = dict(DEFAULT_HPARAMS)
  if fn_args.hyperparameters:
    hparams.update(fn_args.hyperparameters.get('values', {}))
  model = train(fn_args, tf_transform_output, hparams)
  signatures.export(model, tf_transform_output, fn_args.serving_model_dir)
