"""The Tuner's search space and its successive-halving rounds."""

import keras_tuner
import pytest

from components import model
from components import tuner

COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED


def test_search_space_defaults_are_the_models_defaults():
  assert tuner.search_space().values == model.DEFAULT_HPARAMS


@pytest.mark.parametrize('candidates, halving, steps, expected', [
    (3, 3, 2000, [(3, 667)]),             # the default: one round, a third
    (9, 3, 2700, [(9, 300), (3, 900)]),   # two rounds: ninths, then thirds
    (10, 3, 2700, [(10, 100), (4, 300), (2, 900)]),
    (4, 2, 1000, [(4, 250), (2, 500)]),
    (1, 3, 900, [(1, 300)]),
    (5, 1, 1000, [(5, 1000)]),             # halving 1: all at full length
])
def test_halving_rounds(candidates, halving, steps, expected):
  assert tuner.halving_rounds(candidates, halving, steps) == expected


def test_halving_rounds_rejects_nothing_to_do():
  with pytest.raises(ValueError, match='at least 1'):
    tuner.halving_rounds(0, 3, 1000)


def _oracle(tmp_path, candidates, halving, full_steps=2700, seed=7):
  oracle = tuner.SuccessiveHalvingOracle(
      objective=keras_tuner.Objective(tuner.OBJECTIVE, 'max'),
      hyperparameters=tuner.search_space(), candidates=candidates,
      halving=halving, full_steps=full_steps, seed=seed)
  oracle._set_project_dir(str(tmp_path), 'search')  # what a Tuner does
  return oracle


def _run(oracle, score_of):
  """Runs the search as a Tuner would; score_of(values) is each trial's."""
  tried = []
  while True:
    trial = oracle.create_trial('worker')
    if trial.status == STOPPED:
      return tried
    values = dict(trial.hyperparameters.values)
    steps = oracle.steps_of(trial.trial_id)
    tried.append((values, steps))
    oracle.update_trial(trial.trial_id, {tuner.OBJECTIVE: score_of(values)})
    trial.status = COMPLETED
    oracle.end_trial(trial)


def test_first_round_is_the_defaults_then_random_distinct_ones(tmp_path):
  oracle = _oracle(tmp_path, candidates=4, halving=4)
  tried = _run(oracle, lambda values: 0.7)
  assert [steps for _, steps in tried] == [675] * 4   # one round, a quarter
  assert tried[0][0] == model.DEFAULT_HPARAMS
  assert len({tuple(sorted(v.items())) for v, _ in tried}) == 4


def test_each_round_carries_on_the_best_third_for_three_times_longer(tmp_path):
  oracle = _oracle(tmp_path, candidates=9, halving=3)
  # A score that depends on the values only: the best three are known.
  def score_of(values):
    return (values['learning_rate'] * 10 + values['l1'] * 100
            + values['hidden_units'] / 1000 + values['embedding_dim'] / 1e5)
  tried = _run(oracle, score_of)
  first = [v for v, steps in tried if steps == 300]
  second = [v for v, steps in tried if steps == 900]
  assert len(first) == 9 and len(second) == 3 and len(tried) == 12
  best_three = sorted(first, key=score_of, reverse=True)[:3]
  assert second == best_three
  best = oracle.get_best_trials(1)[0]
  assert best.hyperparameters.values == best_three[0]
  assert oracle.round_of(best.trial_id) == 1


def test_a_short_trials_high_score_never_outranks_the_last_round(tmp_path):
  oracle = _oracle(tmp_path, candidates=3, halving=2)   # rounds of 3, then 2
  scores = iter([0.99, 0.60, 0.70,   # round 0: the first and third go on
                 0.80, 0.75])        # round 1: below round 0's 0.99
  tried = _run(oracle, lambda values: next(scores))
  assert [steps for _, steps in tried] == [675, 675, 675, 1350, 1350]
  best = oracle.get_best_trials(2)
  assert [t.score for t in best] == [0.80, 0.75]
  assert best[0].hyperparameters.values == tried[0][0]


def test_the_round_state_survives_a_reload(tmp_path):
  oracle = _oracle(tmp_path, candidates=9, halving=3)
  trial = oracle.create_trial('worker')
  state = oracle.get_state()
  again = _oracle(tmp_path, candidates=9, halving=3)
  again.trials = oracle.trials
  again.set_state(state)
  assert again.steps_of(trial.trial_id) == 300
  assert again.round_of(trial.trial_id) == 0


def _synthetic(rows, seed, column, modulo):
  """Batches of transformed-looking features; the label a function of one."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import features  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  categorical = rng.integers(0, 50, size=(rows, len(features.CATEGORICAL_INPUTS)))
  ngrams = tf.sparse.from_dense(
      (rng.random((rows, 8)) < 0.3) * rng.integers(1, features.TEXT_VOCAB_SIZE + 1, size=(rows, 8)))
  labels = (categorical[:, column] % modulo == 0).astype(np.float32)
  return tf.data.Dataset.from_tensor_slices(
      ({features.CATEGORICAL_XF: categorical,
        features.transformed_name(features.TEXT_FEATURE): ngrams},
       labels)).batch(64).repeat()


def test_the_tuner_trains_each_trial_for_its_rounds_steps(tmp_path):
  """A real search on a few synthetic rows: 3 trials of a third each."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rows = 512
  data = _synthetic(rows, seed=0, column=0, modulo=3)
  oracle = tuner.SuccessiveHalvingOracle(
      objective=keras_tuner.Objective(tuner.OBJECTIVE, 'max'),
      hyperparameters=tuner.search_space(), candidates=3, halving=3,
      full_steps=30, seed=1)
  search = tuner.HalvingTuner(oracle, lambda: data, label_rate=0.33,
                              train_rows=rows, directory=str(tmp_path),
                              project_name='t')
  batches = []
  counter = tf.keras.callbacks.LambdaCallback(
      on_train_batch_end=lambda batch, logs: batches.append(batch))
  search.search(validation_data=data, validation_steps=2,
                callbacks=[counter], verbose=0)
  trials = list(oracle.trials.values())
  assert len(trials) == 3 and all(t.status == COMPLETED for t in trials)
  assert len(batches) == 3 * 10      # each trial trained a third of 30 steps
  assert all(0.0 <= t.score <= 1.0 for t in trials)
  best = search.get_best_hyperparameters(1)[0].values
  assert best == max(trials, key=lambda t: t.score).hyperparameters.values


def test_a_rerun_of_the_search_scores_every_trial_the_same(tmp_path):
  """Each trial starts from the seed: the scores, hence the pick, repeat."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rows = 384
  data = _synthetic(rows, seed=1, column=1, modulo=4)

  def scores(folder, seed_before):
    oracle = tuner.SuccessiveHalvingOracle(
        objective=keras_tuner.Objective(tuner.OBJECTIVE, 'max'),
        hyperparameters=tuner.search_space(), candidates=3, halving=3,
        full_steps=24, seed=5)
    search = tuner.HalvingTuner(oracle, lambda: data, label_rate=0.25,
                                train_rows=rows, seed=11,
                                directory=str(folder), project_name='t')
    tf.keras.utils.set_random_seed(seed_before)   # whatever ran before
    search.search(validation_data=data, validation_steps=2, verbose=0)
    return [t.score for t in oracle.trials.values()]

  first = scores(tmp_path / 'a', seed_before=999)
  assert len(first) == 3
  assert scores(tmp_path / 'b', seed_before=123) == first


def _tuner_fn_args(transform_run, transformed_files, folder):
  """fn_args as TFX's Tuner gives them, on Transform's real output."""
  import types  # pylint: disable=g-import-not-at-top
  rows, transform_dir = transform_run
  files, accessor = transformed_files
  return types.SimpleNamespace(
      train_files=[files], eval_files=[files], data_accessor=accessor,
      transform_graph_path=transform_dir, working_dir=str(folder),
      train_steps=6, eval_steps=1,
      custom_config={'max_trials': 3, 'halving': 3, 'seed': 3,
                     'train_rows': len(rows)})


def _tuner_fn_search(transform_run, transformed_files, folder, seed_before,
                     callbacks=()):
  """tuner_fn's search as TFX's Tuner runs it, after the global seed
  seed_before (whatever ran before): its trials, in order."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(seed_before)
  result = tuner.tuner_fn(_tuner_fn_args(transform_run, transformed_files,
                                         folder))
  result.tuner.search(**result.fit_kwargs, callbacks=list(callbacks))
  return list(result.tuner.oracle.trials.values())


@pytest.fixture(scope='module')
def tuner_fn_search(transform_run, transformed_files, tmp_path_factory):
  """(trials, eval batches seen) of one tuner_fn search after the global
  seed 999, counting the validation batches (a callback: it changes no
  score). Read by the whole-eval-split test and, as the first of its two
  searches, by the rerun test."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  eval_batches = []
  counter = tf.keras.callbacks.LambdaCallback(
      on_test_batch_end=lambda batch, logs: eval_batches.append(batch))
  trials = _tuner_fn_search(transform_run, transformed_files,
                            tmp_path_factory.mktemp('tuner_fn'), 999,
                            callbacks=[counter])
  return trials, len(eval_batches)


def test_tuner_fn_scores_every_trial_on_the_whole_eval_split(
    transform_run, tuner_fn_search):
  """tuner_fn as TFX calls it: each trial is validated on every eval row
  once, whatever --eval-steps says."""
  import math  # pylint: disable=g-import-not-at-top
  from components import features  # pylint: disable=g-import-not-at-top
  rows, _ = transform_run
  trials, eval_batches = tuner_fn_search
  assert len(trials) == 3 and all(t.status == COMPLETED for t in trials)
  per_trial = math.ceil(len(rows) / features.BATCH_SIZE)
  assert eval_batches == 3 * per_trial


def test_a_rerun_of_tuner_fn_reads_the_data_in_the_same_order(
    transform_run, transformed_files, tuner_fn_search, tmp_path):
  """TFX's datasets shuffle; tuner_fn seeds them, so two runs after
  different global seeds score every trial the same (unseeded, the same
  search picked a deep model in one benchmark run and the defaults in the
  next). The first run is tuner_fn_search's (after seed 999)."""
  first = [t.score for t in tuner_fn_search[0]]
  assert len(first) == 3
  again = _tuner_fn_search(transform_run, transformed_files, tmp_path,
                           seed_before=123)
  assert [t.score for t in again] == first
