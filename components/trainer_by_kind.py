"""The Trainer's entry point (`run_fn`) for any data set its spec describes.

The spec arrives in the Trainer's `custom_config` (`{'dataset':
spec.to_config()}`, fingerprinted by TFX); the model is
`components.model_by_kind.build`, exported with signatures typed per column
(`components.signatures.export(..., spec)`).

How long to train: `train_steps` is an upper bound. The model is validated
on a held-out part of the training split after every epoch (never the eval
split: the judge scores the model on that one, and choosing the length on
it would flatter the model) and training stops once the validation loss has
not improved for PATIENCE epochs, with the best epoch's weights restored:
early stopping, as practitioners size training whatever the data's size.
"""

import math
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import dataset_spec
from components import features
from components import model as cfpb_model
from components import model_by_kind
from components import signatures

EPOCHS = 20           # upper bound on the epochs train_steps is split into
PATIENCE = 3          # epochs without a better validation loss before stopping
VALIDATION_SHARE = 0.15  # of the training split, held out for early stopping
RATE_BATCHES = 20     # batches read to estimate the class rates


def spec_of(fn_args) -> dataset_spec.DatasetSpec:
  return dataset_spec.from_config((fn_args.custom_config or {})['dataset'])


def class_rates(dataset: tf.data.Dataset, classes: int,
                batches: int = RATE_BATCHES) -> List[float]:
  """Each class's share of the first batches' labels (the output biases)."""
  counts = np.zeros(classes)
  for _, label in dataset.take(batches):
    values = np.asarray(label).astype(int).ravel()
    counts += np.bincount(values[(values >= 0) & (values < classes)],
                          minlength=classes)
  return list(counts / max(counts.sum(), 1.0))


SHUFFLE_BUFFER = 10_000  # rows


def _split(dataset: tf.data.Dataset, seed: int):
  """(training, validation) of an unshuffled pass: every k-th row held out
  (a systematic sample, so a file sorted by class or by time is sampled
  evenly), the same rows on every epoch, never trained on; the training
  rows reshuffled each epoch, the validation ones cached."""
  every = max(2, round(1.0 / VALIDATION_SHARE))
  numbered = dataset.unbatch().enumerate()
  validation = numbered.filter(lambda i, _: i % every == 0).map(
      lambda _, row: row).batch(features.BATCH_SIZE).cache()
  training = numbered.filter(lambda i, _: i % every != 0).map(
      lambda _, row: row).shuffle(
          SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(
              features.BATCH_SIZE)
  return training, validation


def train(fn_args, tf_transform_output, hparams: Dict[str, Any],
          spec: dataset_spec.DatasetSpec) -> tf.keras.Model:
  """Fits with early stopping; the curve goes to model_run_dir."""
  config = fn_args.custom_config or {}
  seed = int(config.get('seed', 42))
  tf.keras.utils.set_random_seed(seed)
  train_rows = int(config.get('train_rows', 0))

  def one_pass() -> tf.data.Dataset:
    return cfpb_model.make_dataset(fn_args.train_files, fn_args.data_accessor,
                                   tf_transform_output, once=True, seed=seed,
                                   label_key=spec.label.key, shuffle=False)

  units = len(spec.label.classes)
  training, validation = _split(one_pass(), seed)
  rates = class_rates(training, units)
  epochs = max(1, min(EPOCHS, fn_args.train_steps))
  steps_per_epoch = max(1, fn_args.train_steps // epochs)
  # Steps per epoch over the training part, at most one pass each: an
  # epoch is then a pass and the validation loss is read once per pass.
  pass_steps = max(1, math.ceil(train_rows * (1 - VALIDATION_SHARE)
                                / features.BATCH_SIZE)) if train_rows else 0
  if pass_steps and pass_steps < steps_per_epoch:
    epochs = max(1, min(fn_args.train_steps // pass_steps, 10 * EPOCHS))
    steps_per_epoch = pass_steps
  model = model_by_kind.build(spec, hparams, rates, train_rows=train_rows)
  history = model.fit(
      training.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch,
      validation_data=validation,
      callbacks=[tf.keras.callbacks.EarlyStopping(
          monitor='val_loss', patience=PATIENCE, restore_best_weights=True),
                 tf.keras.callbacks.TensorBoard(
                     log_dir=fn_args.model_run_dir, update_freq='epoch')],
      verbose=2)
  cfpb_model.write_history(fn_args.model_run_dir, history.history, hparams,
                           rates[-1], steps_per_epoch=steps_per_epoch)
  return model


def run_fn(fn_args) -> None:
  """TFX Trainer entry point: train, then export with both signatures."""
  spec = spec_of(fn_args)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  hparams = dict(cfpb_model.DEFAULT_HPARAMS)
  if fn_args.hyperparameters:
    hparams.update(fn_args.hyperparameters.get('values', {}))
  model = train(fn_args, tf_transform_output, hparams, spec)
  signatures.export(model, tf_transform_output, fn_args.serving_model_dir,
                    spec=spec)
