"""How long to train when nobody fixed it: early stopping on a held-out part
of the training split, as practitioners size training at any data size.

A fixed length fits one size only: 1,000 steps over-trained 3,222 rows (40
epochs; eval AUC 0.699) and are a third of an epoch at 500,000. When the
train steps are chosen by size (`--train-steps 0`, the default), the
Trainer instead holds out every k-th training row (VALIDATION_SHARE; never
the eval split, which the judge scores the model on), trains pass by pass
over the rest, and stops once the validation loss has not improved for
PATIENCE passes, restoring the best pass's weights. Where the held-out
rows are a loss worth paying for (up to REFIT_MAX_ROWS training rows), the
model is then fitted again, from the same seeded start, on every training
row for the best number of passes: the usual last step of choosing the
training length on a validation part. An explicit `--train-steps N`
trains exactly N steps (the tests pin their lengths so). Used by both
Trainers (components/model.py, components/trainer_by_kind.py).
"""

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import tensorflow as tf

VALIDATION_SHARE = 0.15   # of the training rows, held out
PATIENCE = 3              # passes without a better validation loss
MAX_PASSES = 50           # over the training part, at most
SHUFFLE_BUFFER = 10_000   # rows
# Every k-th training row is held out: k from the share.
HOLDOUT_EVERY = max(2, round(1.0 / VALIDATION_SHARE))
# Up to this many training rows, the refit on all of them: on 4,000
# generated complaints it added 0.003 to the eval AUC (the 15% held out
# are rows the model otherwise never learns from; make bench-small-data),
# for a second fit that takes seconds there; at 500,000 rows 15% more
# rows move the AUC little and a second fit doubles the Trainer's time.
REFIT_MAX_ROWS = 100_000


class Fitted(NamedTuple):
  """What a Trainer's fit made: the model it exports, the curve it records
  (per pass: loss and metrics, on train and validation rows), the steps of
  one pass, and the refit on all training rows (None: none was made)."""
  model: Any  # tf.keras.Model
  history: Dict[str, List[float]]
  steps_per_epoch: int
  refit: Optional[Dict[str, Any]]


def holdout_split(one_pass: tf.data.Dataset, seed: int, batch_size: int
                  ) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
  """(training, validation) of one unshuffled pass over the training split.

  Every k-th row is held out (a systematic sample, so a file sorted by
  class or by time is sampled evenly): the same rows on every pass, never
  trained on. The training rows are reshuffled each pass and repeat without
  end; the validation ones are cached.
  """
  every = HOLDOUT_EVERY
  numbered = one_pass.unbatch().enumerate()
  validation = numbered.filter(lambda i, _: i % every == 0).map(
      lambda _, row: row).batch(batch_size).cache()
  training = numbered.filter(lambda i, _: i % every != 0).map(
      lambda _, row: row).shuffle(
          SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(
              batch_size).repeat()
  return training, validation


def steps_per_pass(train_rows: int, batch_size: int) -> int:
  """Steps of one pass over the training part of train_rows rows (rows 0,
  k, 2k, ... are held out)."""
  held_out = -(-train_rows // HOLDOUT_EVERY)
  return max(1, -(-(train_rows - held_out) // batch_size))


def fit(model: tf.keras.Model, one_pass: tf.data.Dataset, train_rows: int,
        seed: int, batch_size: int, callbacks=()):
  """Fits with early stopping; returns (history, steps per epoch)."""
  training, validation = holdout_split(one_pass, seed, batch_size)
  steps = steps_per_pass(train_rows, batch_size)
  history = model.fit(
      training, epochs=MAX_PASSES, steps_per_epoch=steps,
      validation_data=validation,
      callbacks=[tf.keras.callbacks.EarlyStopping(
          monitor='val_loss', patience=PATIENCE,
          restore_best_weights=True)] + list(callbacks),
      verbose=2)
  return history, steps


def best_passes(history: Dict[str, List[float]]) -> int:
  """Passes up to the lowest validation loss (the weights fit restored)."""
  losses = history['val_loss']
  return 1 + min(range(len(losses)), key=losses.__getitem__)


def refit(build_model, train_data, train_rows: int, passes: int, seed: int,
          batch_size: int):
  """Fits a new model from the same seeded start on every training row
  (the held-out ones too), reshuffled each pass, for `passes` passes.

  Returns (model, record): the record names the passes, the steps of one
  pass and the training loss per pass (no validation rows are left)."""
  tf.keras.utils.set_random_seed(seed)
  data = train_data()  # shuffled and repeated; made before the model
  model = build_model()
  steps = max(1, -(-train_rows // batch_size))
  history = model.fit(data, epochs=passes, steps_per_epoch=steps, verbose=2)
  return model, {'passes': passes, 'steps_per_pass': steps,
                 'rows': train_rows,
                 'loss': [float(v) for v in history.history['loss']]}


def train(build_model, fn_args, train_data, eval_data, batch_size: int,
          epochs: int, callbacks=()):
  """The Trainers' fit: early stopping when the Trainer's custom_config asks
  for it (the steps were chosen by size), else exactly fn_args.train_steps
  split into up to `epochs` epochs, validated on eval_data() for the curve.

  The datasets are made before the model (build_model()): random ops made
  in between would shift the seeded initial weights, which the tests pin.

  Args:
    build_model: () -> the compiled model.
    train_data: train_data(**make_dataset kwargs) -> the training split.
    eval_data: eval_data() -> the eval split (fixed length only).
  """
  config = fn_args.custom_config or {}
  train_rows = int(config.get('train_rows', 0))
  if config.get('early_stopping') and train_rows:
    seed = int(config.get('seed', 42))
    one_pass = train_data(once=True, shuffle=False)
    model = build_model()
    history, steps = fit(model, one_pass, train_rows, seed, batch_size,
                         callbacks)
    if train_rows > REFIT_MAX_ROWS:
      return Fitted(model, history.history, steps, None)
    model, record = refit(build_model, train_data, train_rows,
                          best_passes(history.history), seed, batch_size)
    return Fitted(model, history.history, steps, record)
  train_ds, eval_ds = train_data(), eval_data()
  model = build_model()
  epochs = max(1, min(epochs, fn_args.train_steps))
  steps_per_epoch = max(1, fn_args.train_steps // epochs)
  history = model.fit(
      train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
      validation_data=eval_ds,
      validation_steps=max(1, fn_args.eval_steps),
      callbacks=list(callbacks), verbose=2)
  return Fitted(model, history.history, steps_per_epoch, None)
