"""Tuner's entry point: KerasTuner random search over the model's hparams."""

import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from components import model


def search_space() -> keras_tuner.HyperParameters:
  """Replace with your own search space."""
  hp = keras_tuner.HyperParameters()
  hp.Choice('learning_rate', [1e-3, 3e-3, 1e-2])
  hp.Choice('hidden_units', [32, 64, 128])
  hp.Choice('embedding_dim', [8, 16, 32])
  return hp


def tuner_fn(fn_args) -> tfx.components.TunerFnResult:
  """Builds the KerasTuner search on Transform's output."""
  config = fn_args.custom_config or {}
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  train_ds = model.make_dataset(fn_args.train_files, fn_args.data_accessor,
                                tf_transform_output)
  eval_ds = model.make_dataset(fn_args.eval_files, fn_args.data_accessor,
                               tf_transform_output)
  label_rate = model.estimate_label_rate(train_ds)
  tuner = keras_tuner.RandomSearch(
      lambda hp: model.get_model(hp.values, label_rate),
      hyperparameters=search_space(),
      objective=keras_tuner.Objective('val_auc', 'max'),
      max_trials=int(config.get('max_trials', 3)),
      seed=int(config.get('seed', 42)),
      directory=fn_args.working_dir,
      project_name='complaints_tuning')
  return tfx.components.TunerFnResult(
      tuner=tuner,
      fit_kwargs={'x': train_ds, 'validation_data': eval_ds,
                  'steps_per_epoch': fn_args.train_steps,
                  'validation_steps': fn_args.eval_steps, 'verbose': 0})
