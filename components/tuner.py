"""Tuner's entry point: KerasTuner random search over the model's hparams."""

import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from components import model


def search_space() -> keras_tuner.HyperParameters:
  """Replace with your own search space; defaults are the model's defaults."""
  hp = keras_tuner.HyperParameters()
  defaults = model.DEFAULT_HPARAMS
  hp.Choice('learning_rate', [3e-3, 1e-2], default=defaults['learning_rate'])
  hp.Choice('l1', [3e-4, 1e-3, 3e-3], default=defaults['l1'])
  # 0: the wide model alone.
  hp.Choice('hidden_units', [0, 32], default=defaults['hidden_units'])
  hp.Choice('embedding_dim', [8, 16], default=defaults['embedding_dim'])
  return hp


class DefaultsFirstOracle(keras_tuner.oracles.RandomSearchOracle):
  """Random search whose first trial is the search space's defaults.

  With a trial budget this small, random picks alone may all be worse than
  the measured defaults; trying the defaults first means the chosen
  hyperparameters never score below them on the validation split.
  """

  def populate_space(self, trial_id):
    if not self.trials:
      return {'status': keras_tuner.engine.trial.TrialStatus.RUNNING,
              'values': self.hyperparameters.values}
    return super().populate_space(trial_id)


def tuner_fn(fn_args) -> tfx.components.TunerFnResult:
  """Builds the KerasTuner search on Transform's output."""
  config = fn_args.custom_config or {}
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  train_ds = model.make_dataset(fn_args.train_files, fn_args.data_accessor,
                                tf_transform_output)
  eval_ds = model.make_dataset(fn_args.eval_files, fn_args.data_accessor,
                               tf_transform_output)
  label_rate = model.estimate_label_rate(train_ds)
  oracle = DefaultsFirstOracle(
      objective=keras_tuner.Objective('val_auc', 'max'),
      max_trials=int(config.get('max_trials', 3)),
      hyperparameters=search_space(),
      seed=int(config.get('seed', 42)))
  tuner = keras_tuner.Tuner(
      oracle=oracle,
      hypermodel=lambda hp: model.get_model(hp.values, label_rate),
      directory=fn_args.working_dir,
      project_name='complaints_tuning')
  return tfx.components.TunerFnResult(
      tuner=tuner,
      fit_kwargs={'x': train_ds, 'validation_data': eval_ds,
                  'steps_per_epoch': fn_args.train_steps,
                  'validation_steps': fn_args.eval_steps, 'verbose': 0})
