"""The Trainer's entry point (`run_fn`) for any data set its spec describes.

The spec arrives in the Trainer's `custom_config` (`{'dataset':
spec.to_config()}`, fingerprinted by TFX); the model is
`components.model_by_kind.build`, exported with signatures typed per column
(`components.signatures.export(..., spec)`).

How long to train: as the CFPB Trainer (components/early_stopping.py):
early stopping on a held-out part of the training split when the steps are
chosen by size, exactly `--train-steps N` when given.
"""

from typing import Any, Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import dataset_spec
from components import early_stopping
from components import features
from components import model as cfpb_model
from components import model_by_kind
from components import signatures

RATE_BATCHES = 20     # batches read to estimate the class rates


def class_rates(dataset: tf.data.Dataset, classes: int,
                batches: int = RATE_BATCHES) -> List[float]:
  """Each class's share of the first batches' labels (the output biases)."""
  counts = np.zeros(classes)
  for _, label in dataset.take(batches):
    values = np.asarray(label).astype(int).ravel()
    counts += np.bincount(values[(values >= 0) & (values < classes)],
                          minlength=classes)
  return list(counts / max(counts.sum(), 1.0))




def train(fn_args, tf_transform_output, hparams: Dict[str, Any],
          spec: dataset_spec.DatasetSpec) -> tf.keras.Model:
  """Fits as components.model.train does (early stopping when the steps
  were chosen by size, else fn_args.train_steps); the curve goes to
  model_run_dir."""
  config = fn_args.custom_config or {}
  seed = int(config.get('seed', 42))
  tf.keras.utils.set_random_seed(seed)
  train_rows = int(config.get('train_rows', 0))

  def train_data(**kwargs) -> tf.data.Dataset:
    return cfpb_model.make_dataset(fn_args.train_files, fn_args.data_accessor,
                                   tf_transform_output, seed=seed,
                                   label_key=spec.label.key, **kwargs)

  rates = class_rates(train_data(), len(spec.label.classes))
  board = tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir,
                                         update_freq='epoch')
  fitted = early_stopping.train(
      lambda: model_by_kind.build(spec, hparams, rates, train_rows=train_rows),
      fn_args, train_data,
      lambda: cfpb_model.make_dataset(
          fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
          seed=seed, label_key=spec.label.key),
      features.BATCH_SIZE, cfpb_model.EPOCHS, callbacks=[board])
  cfpb_model.write_history(fn_args.model_run_dir, fitted.history, hparams,
                           rates[-1], steps_per_epoch=fitted.steps_per_epoch,
                           refit=fitted.refit)
  return fitted.model


def run_fn(fn_args) -> None:
  """TFX Trainer entry point: train, then export with its signatures."""
  spec = dataset_spec.from_custom_config(fn_args.custom_config)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  hparams = dict(cfpb_model.DEFAULT_HPARAMS)
  if fn_args.hyperparameters:
    hparams.update(fn_args.hyperparameters.get('values', {}))
  model = train(fn_args, tf_transform_output, hparams, spec)
  signatures.export(model, tf_transform_output, fn_args.serving_model_dir,
                    spec=spec, reference=cfpb_model.eval_reference(
                        model, fn_args, tf_transform_output,
                        spec.output_key, spec.label.key, spec))
