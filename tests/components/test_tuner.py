"""The Tuner's search space and its defaults-first random search."""

import keras_tuner

from components import model
from components import tuner


def test_search_space_defaults_are_the_models_defaults():
  assert tuner.search_space().values == model.DEFAULT_HPARAMS


def test_first_trial_is_the_defaults_then_random_distinct_ones(tmp_path):
  oracle = tuner.DefaultsFirstOracle(
      objective=keras_tuner.Objective('val_auc', 'max'), max_trials=4,
      hyperparameters=tuner.search_space(), seed=7)
  oracle._set_project_dir(str(tmp_path), 'search')  # what a Tuner does
  tried = []
  for _ in range(4):
    trial = oracle.create_trial('worker')
    tried.append(dict(trial.hyperparameters.values))
    oracle.end_trial(trial)
  assert tried[0] == model.DEFAULT_HPARAMS
  assert len({tuple(sorted(t.items())) for t in tried}) == 4
