"""The Keras model (`get_model`) and the Trainer's entry point (`run_fn`).

`run_fn` stays thin: `train(...)` fits, `export(...)` writes the SavedModel
with the Transform graph attached, so both are testable without TFX.
"""

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components import attributions
from components import early_stopping
from components import features
from components import keras_autograph
from components import layer_names
from components import signatures
from components import stack

# Replace with your own search space / defaults (the Tuner overrides them).
# hidden_units = 0 leaves the deep branch out: on the generated data, whose
# label is additive in the features, the wide model alone generalizes best
# (measured: see docs/what-a-run-does.md, "Model").
DEFAULT_HPARAMS: Dict[str, Any] = {
    'learning_rate': 3e-3,
    'l1': 1e-3,
    'hidden_units': 0,
    'embedding_dim': 16,
}
# The train steps are split into this many epochs, so the training curve
# (loss and AUC on train and eval) has points to plot and to record.
EPOCHS = 10
HISTORY_FILE = 'training_history.json'  # in the Trainer's model_run dir
# Prior sd of a categorical value's effect on the log-odds (see get_model's
# train_rows): before the data speaks, a value moves the odds by up to about
# 3.7x (two sd). Weakly informative for complaint data; the generated
# effects are uniform in +-1 for companies (sd 0.58) and +-1.2 for issues.
# What it does to the AUC: make bench-training (benchmarks/README.md).
CATEGORY_PRIOR_SD = 0.65
DEEP_DROPOUT = 0.5
DEEP_L2 = 1e-3
# The layer whose bias starts at the log-odds of the base rate.
BIAS_LAYER = layer_names.WIDE_CATEGORICAL


def get_model(hparams: Dict[str, Any], label_rate: float = 0.2,
              train_rows: int = 0) -> tf.keras.Model:
  """Wide & deep: a sparse linear model, plus an optional deep branch.

  The wide part is logistic regression over the categorical values (a
  multi-hot over their shared vocabulary) and the multi-hot bag of narrative
  n-grams, the n-grams with an L1 penalty:
  of ten thousand few carry signal, and L1 drives the rest to zero. The
  deep branch (hidden_units > 0) adds a dense layer over the categoricals
  and an n-gram embedding bag, for data whose label has interactions.

  Args:
    hparams: learning_rate, l1, hidden_units, embedding_dim.
    label_rate: share of disputed complaints; initializes the bias to the
      log-odds of the base rate so the imbalance does not slow training and
      the probabilities stay calibrated (class weights would not).
    train_rows: the training rows; with them, each categorical value's
      weight gets a Gaussian prior of sd CATEGORY_PRIOR_SD (an L2 penalty of
      1 / (2 sd^2 rows) on the mean loss), which shrinks the effects of rare
      values, mostly noise at 15,000 rows, and fades as the data grows.
      0: no prior.
  """
  keras_autograph.leave_tf_keras_unconverted()
  inputs = {features.CATEGORICAL_XF: tf.keras.Input(
      shape=(len(features.CATEGORICAL_INPUTS),), name=features.CATEGORICAL_XF,
      dtype=tf.int64)}
  # Each feature's id is one-hot; together, a multi-hot over the vocabulary.
  categorical = tf.keras.layers.CategoryEncoding(
      num_tokens=features.CATEGORICAL_VOCAB_SIZE + features.OOV_BUCKETS,
      output_mode='multi_hot')(inputs[features.CATEGORICAL_XF])
  text_name = features.transformed_name(features.TEXT_FEATURE)
  inputs[text_name] = tf.keras.Input(
      shape=(None,), name=text_name, dtype=tf.int64, sparse=True)
  ngrams = tf.keras.layers.CategoryEncoding(
      num_tokens=features.TEXT_VOCAB_SIZE + features.TEXT_OOV_BUCKETS,
      output_mode='multi_hot', sparse=True)(inputs[text_name])

  l1 = float(hparams.get('l1', 0.0))
  bias = float(np.log(label_rate / (1.0 - label_rate)))
  logits = [
      # Not the n-grams' L1: a few thousand categories, most seen often
      # enough, and an L1 this strong would erase the rarer companies'
      # effects; the prior (train_rows) only shrinks them.
      tf.keras.layers.Dense(
          1, name=BIAS_LAYER,
          kernel_regularizer=(tf.keras.regularizers.L2(
              1.0 / (2.0 * CATEGORY_PRIOR_SD**2 * train_rows))
                              if train_rows else None),
          bias_initializer=tf.keras.initializers.Constant(bias))(categorical),
      tf.keras.layers.Dense(
          1, name=layer_names.wide_text(features.TEXT_FEATURE),
          use_bias=False,
          kernel_regularizer=tf.keras.regularizers.L1(l1))(ngrams)]
  hidden_units = int(hparams.get('hidden_units', 0))
  if hidden_units > 0:
    text_bag = tf.keras.layers.Dense(  # sum of the n-grams' embeddings
        int(hparams['embedding_dim']), use_bias=False,
        name='text_embedding_bag')(ngrams)
    deep = tf.keras.layers.Dropout(DEEP_DROPOUT)(
        tf.keras.layers.concatenate([categorical, text_bag]))
    deep = tf.keras.layers.Dropout(DEEP_DROPOUT)(tf.keras.layers.Dense(
        hidden_units, activation='relu',
        kernel_regularizer=tf.keras.regularizers.L2(DEEP_L2))(deep))
    logits.append(tf.keras.layers.Dense(1, use_bias=False,
                                        name=layer_names.DEEP)(deep))
  output = tf.keras.layers.Activation('sigmoid', name=features.OUTPUT_KEY)(
      tf.keras.layers.Add()(logits))
  model = tf.keras.Model(inputs=inputs, outputs=output)
  model.compile(
      optimizer=tf.keras.optimizers.Adam(float(hparams['learning_rate'])),
      loss='binary_crossentropy',
      metrics=[tf.keras.metrics.AUC(name='auc')])
  return model


def make_dataset(file_pattern: List[str], data_accessor,
                 tf_transform_output: tft.TFTransformOutput,
                 batch_size: int = features.BATCH_SIZE,
                 once: bool = False, seed: int = 42,
                 label_key: str = features.LABEL_KEY,
                 shuffle: bool = True) -> tf.data.Dataset:
  """Batches of (transformed features, label) from Transform's output:
  repeated without end for training, or every row once (`once`) for a score
  over a whole split.

  The order is the same in every run only for the first pass over a dataset
  made after the global seed was set: the files and rows are shuffled with
  `seed` as the op seed (one derived from the global seed depends on how
  many random ops the process made before: in a LocalDagRunner run, every
  component before), and a later pass continues from how far the previous
  one's prefetch threads had read ahead. So a caller that reads twice (the
  label rate, then training; each Tuner trial) makes a dataset per pass.
  Unseeded, two runs of the same Tuner picked other candidates."""
  dataset = data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(
          batch_size=batch_size, label_key=label_key,
          num_epochs=1 if once else None, shuffle=shuffle,
          shuffle_seed=seed),
      tf_transform_output.transformed_metadata.schema)
  return dataset if once else dataset.repeat()


def estimate_label_rate(dataset: tf.data.Dataset, batches: int = 20) -> float:
  """Share of positives in the first batches (for the output bias)."""
  positives = total = 0.0
  for _, label in dataset.take(batches):
    positives += float(tf.reduce_sum(tf.cast(label, tf.float32)))
    total += float(tf.size(label))
  rate = positives / max(total, 1.0)
  return min(max(rate, 0.01), 0.99)


def train(fn_args, tf_transform_output, hparams) -> tf.keras.Model:
  """Fits, recording the curve in model_run_dir: for fn_args.train_steps,
  or with early stopping when the steps were chosen by size
  (custom_config 'early_stopping'; components/early_stopping.py)."""
  config = fn_args.custom_config or {}
  seed = int(config.get('seed', 42))
  train_rows = int(config.get('train_rows', 0))
  tf.keras.utils.set_random_seed(seed)

  def train_data(**kwargs):
    return make_dataset(fn_args.train_files, fn_args.data_accessor,
                        tf_transform_output, seed=seed, **kwargs)

  # A dataset per pass, so fit's is a first pass (make_dataset).
  label_rate = estimate_label_rate(train_data())
  board = tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir,
                                         update_freq='epoch')
  fitted = early_stopping.train(
      lambda: get_model(hparams, label_rate, train_rows=train_rows),
      fn_args, train_data,
      lambda: make_dataset(fn_args.eval_files, fn_args.data_accessor,
                           tf_transform_output, seed=seed),
      features.BATCH_SIZE, EPOCHS, callbacks=[board])
  write_history(fn_args.model_run_dir, fitted.history, hparams, label_rate,
                steps_per_epoch=fitted.steps_per_epoch, refit=fitted.refit)
  return fitted.model


def write_history(model_run_dir: str, history: Dict[str, List[float]],
                  hparams: Dict[str, Any], label_rate: float,
                  steps_per_epoch: int,
                  refit: Optional[Dict[str, Any]] = None) -> str:
  """Writes the training curve and its settings as JSON (for lineage),
  with the stack that trained the model (Python, TFX, TF, Beam, ...): the
  Trainer's own process is the one place that knows what built it. `refit`:
  the fit on all training rows that made the exported model after early
  stopping chose its length (components/early_stopping.py), if any."""
  record = {'hyperparameters': {k: v for k, v in hparams.items()},
            'stack': stack.stack_versions(),
            'label_rate': label_rate, 'steps_per_epoch': steps_per_epoch,
            'epochs': len(next(iter(history.values()), [])),
            'refit': refit,
            'history': {k: [float(v) for v in values]
                        for k, values in history.items()}}
  tf.io.gfile.makedirs(model_run_dir)
  path = os.path.join(model_run_dir, HISTORY_FILE)
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(record, indent=1, sort_keys=True))
  return path


REFERENCE_BATCH = 1024  # rows per batch of the attributions' reference pass


def eval_reference(model: tf.keras.Model, fn_args, tf_transform_output,
                   output_key: str = features.OUTPUT_KEY,
                   label_key: str = features.LABEL_KEY, spec=None):
  """The attributions' reference (components/attributions.py): each
  feature's mean contribution over the eval split, every row once."""
  return attributions.reference_means(
      model, make_dataset(fn_args.eval_files, fn_args.data_accessor,
                          tf_transform_output, batch_size=REFERENCE_BATCH,
                          once=True, label_key=label_key, shuffle=False),
      output_key, spec)


def run_fn(fn_args) -> None:
  """TFX Trainer entry point: train, then export with its signatures."""
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  hparams = dict(DEFAULT_HPARAMS)
  if fn_args.hyperparameters:
    hparams.update(fn_args.hyperparameters.get('values', {}))
  model = train(fn_args, tf_transform_output, hparams)
  signatures.export(model, tf_transform_output, fn_args.serving_model_dir,
                    reference=eval_reference(model, fn_args,
                                             tf_transform_output))
