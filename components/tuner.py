"""Tuner's entry point: successive halving over the model's hyperparameters.

Candidates (the search space's defaults first, then random ones) are
trained in rounds: every candidate for a short budget, the best 1/halving of
them for `halving` times longer, and so on; the last round's best is the
answer, which the Trainer then trains for its full length. With the
defaults (3 candidates, halving 3) that is one round of 3 trials at a third
of the Trainer's steps: the Tuner trains as many steps as the Trainer, where
training every candidate at full length trained three times as many. That
short trials rank candidates as full-length ones do is measured, not assumed:
`make bench-tuner` trains every candidate both ways on the same data
(benchmarks/results/tuner.json, benchmarks/README.md).
"""

import math
from typing import Callable, Dict, List, Optional, Tuple

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft

from components import dataset_spec
from components import features
from components import model
from components import model_by_kind
from components import tfx_api
from components import trainer_by_kind

# One round's (candidates, train steps per candidate).
Round = Tuple[int, int]
OBJECTIVE = 'val_auc'


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


def halving_rounds(candidates: int, halving: int, full_steps: int
                   ) -> List[Round]:
  """The rounds of a successive-halving search, shortest first.

  Round r of R keeps ceil(candidates / halving**r) candidates and trains each
  for full_steps / halving**(R - r) steps, R = ceil(log_halving(candidates))
  (at least one round): the last round trains at full_steps / halving, and
  the Trainer's full-length run is the round after it. halving 1 trains
  every candidate at full length in one round (no halving).
  """
  if candidates < 1 or halving < 1 or full_steps < 1:
    raise ValueError('candidates, halving and full_steps must be at least 1, '
                     f'not {candidates}, {halving}, {full_steps}')
  if halving == 1:
    return [(candidates, full_steps)]
  rounds = max(1, math.ceil(math.log(candidates, halving) - 1e-9))
  return [(math.ceil(candidates / halving**r),
           max(1, round(full_steps / halving**(rounds - r))))
          for r in range(rounds)]


class SuccessiveHalvingOracle(keras_tuner.Oracle):
  """Proposes the candidates of `halving_rounds`, round by round.

  Round 0's candidates are the search space's defaults, then random distinct
  values (with a budget this small, random picks alone may all be worse
  than the measured defaults). A later round re-proposes the best of the
  round before it, by the objective; each trial's train steps are
  `steps_of(trial_id)`. The best trials are those of the last round that
  completed, ranked by score: a candidate that scored high on a short budget
  and was not carried on never outranks the longer-trained ones.
  """

  def __init__(self, objective, hyperparameters, candidates: int = 3,
               halving: int = 3, full_steps: int = 1000, seed=None, **kwargs):
    super().__init__(objective=objective, hyperparameters=hyperparameters,
                     max_trials=None, seed=seed, **kwargs)
    self.rounds = halving_rounds(candidates, halving, full_steps)
    self._round_of: Dict[str, int] = {}
    self._queue: List[Dict] = []
    self._round = -1

  def steps_of(self, trial_id: str) -> int:
    """Train steps of a trial: its round's budget."""
    return self.rounds[self._round_of[trial_id]][1]

  def round_of(self, trial_id: str) -> int:
    return self._round_of[trial_id]

  def _trials_of_round(self, r: int):
    return [self.trials[t] for t, rr in self._round_of.items() if rr == r]

  def _next_round(self) -> Optional[List[Dict]]:
    """The next round's candidates' values, or None when the search is done."""
    r = self._round + 1
    if r >= len(self.rounds):
      return None
    wanted = self.rounds[r][0]
    if r == 0:
      values = [dict(self.hyperparameters.values)]
      self._tried_so_far.add(self._compute_values_hash(values[0]))
      while len(values) < wanted:
        picked = self._random_values()
        if picked is None:  # the space has no more distinct values
          break
        self._tried_so_far.add(self._compute_values_hash(picked))
        values.append(picked)
      return values
    done = [t for t in self._trials_of_round(r - 1)
            if t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED]
    done.sort(key=lambda t: t.score, reverse=self.objective.direction == 'max')
    return [dict(t.hyperparameters.values) for t in done[:wanted]] or None

  def populate_space(self, trial_id):
    if not self._queue:
      following = self._next_round()
      if following is None:
        return {'status': keras_tuner.engine.trial.TrialStatus.STOPPED}
      self._round += 1
      self._queue = following
    self._round_of[trial_id] = self._round
    return {'status': keras_tuner.engine.trial.TrialStatus.RUNNING,
            'values': self._queue.pop(0)}

  def get_best_trials(self, num_trials=1):
    completed = [t for t in self.trials.values()
                 if t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED]
    sign = 1 if self.objective.direction == 'max' else -1
    completed.sort(key=lambda t: (self._round_of.get(t.trial_id, -1),
                                  sign * t.score), reverse=True)
    return completed[:num_trials]

  def get_state(self):
    state = super().get_state()
    state.update(halving_round_of=self._round_of, halving_queue=self._queue,
                 halving_round=self._round)
    return state

  def set_state(self, state):
    super().set_state(state)
    self._round_of = dict(state.get('halving_round_of', {}))
    self._queue = list(state.get('halving_queue', []))
    self._round = state.get('halving_round', -1)


class HalvingTuner(keras_tuner.Tuner):
  """Trains each trial for its round's steps on a dataset of its own; no
  checkpoints (the Trainer retrains the winner, so a trial's weights are
  never read).

  `train_data()` makes the training dataset anew for every trial, after the
  seed: only a dataset's first pass has the same order in every run
  (model.make_dataset).
  """

  def __init__(self, oracle: SuccessiveHalvingOracle,
               train_data: Callable[[], tf.data.Dataset], label_rate: float,
               train_rows: int = 0, seed: int = 42,
               build_model: Optional[Callable[[Dict], tf.keras.Model]] = None,
               **kwargs):
    super().__init__(oracle=oracle, hypermodel=None, **kwargs)
    self.train_data = train_data
    self.label_rate = label_rate
    self.train_rows = train_rows
    self.seed = seed
    # A dataset spec's model (components/model_by_kind.py); None: the
    # CFPB model (components/model.py).
    self.build_model = build_model

  def run_trial(self, trial, *fit_args, **fit_kwargs):
    steps = self.oracle.steps_of(trial.trial_id)
    # Every trial starts from the seed the Trainer starts from, on the data
    # in the same order: a trial's score then depends on its hyperparameters
    # alone, and a rerun picks the same ones (unseeded, two close candidates
    # swapped places between runs).
    tf.keras.utils.set_random_seed(self.seed)
    keras_model = (self.build_model(trial.hyperparameters.values)
                   if self.build_model else
                   model.get_model(trial.hyperparameters.values,
                                   self.label_rate,
                                   train_rows=self.train_rows))
    history = keras_model.fit(self.train_data(), *fit_args,
                              **dict(fit_kwargs, steps_per_epoch=steps))
    return {OBJECTIVE: max(history.history[OBJECTIVE])}


def tuner_fn(fn_args) -> tfx_api.TunerFnResult:
  """Builds the successive-halving search on Transform's output.

  fn_args.train_steps is the full length the search ranks for (the
  Trainer's steps unless set apart); custom_config carries max_trials (the
  candidates), halving, train_rows and seed. fn_args.eval_steps is not
  used: trials are scored on the whole eval split.
  """
  config = fn_args.custom_config or {}
  seed = int(config.get('seed', 42))
  # Before any dataset is made (model.make_dataset), as the Trainer does.
  tf.keras.utils.set_random_seed(seed)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  spec = dataset_spec.from_custom_config(config)
  label_key = spec.label.key if spec else features.LABEL_KEY

  def train_data():
    return model.make_dataset(fn_args.train_files, fn_args.data_accessor,
                              tf_transform_output, seed=seed,
                              label_key=label_key)

  # Every trial is scored on the whole eval split, each row once: a sample
  # of --eval-steps batches (6,400 rows, 6% of the split at 500,000 rows)
  # scores candidates whose AUC differs by less than its noise.
  eval_ds = model.make_dataset(fn_args.eval_files, fn_args.data_accessor,
                               tf_transform_output, once=True, seed=seed,
                               label_key=label_key)
  build_model = None
  train_rows = int(config.get('train_rows', 0))
  if spec:
    rates = trainer_by_kind.class_rates(train_data(),
                                        len(spec.label.classes))

    def build_model(hparams):
      return model_by_kind.build(spec, hparams, rates, train_rows=train_rows)
  oracle = SuccessiveHalvingOracle(
      objective=keras_tuner.Objective(OBJECTIVE, 'max'),
      hyperparameters=search_space(),
      candidates=int(config.get('max_trials', 3)),
      halving=int(config.get('halving', 3)),
      full_steps=fn_args.train_steps, seed=seed)
  tuner = HalvingTuner(
      oracle, train_data, model.estimate_label_rate(train_data()),
      train_rows=train_rows, seed=seed, build_model=build_model,
      directory=fn_args.working_dir, project_name='complaints_tuning')
  return tfx_api.TunerFnResult(
      tuner=tuner,
      fit_kwargs={'validation_data': eval_ds, 'verbose': 0})
