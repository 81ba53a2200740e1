"""tf_keras left to run as written inside tf.function: the same model, trained."""

import importlib

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components import keras_autograph
from components import model

RULES = importlib.import_module(keras_autograph._RULES_MODULE)  # pylint: disable=protected-access


@pytest.fixture
def original_rules():
  """Restores AutoGraph's rule list after the test."""
  saved = RULES.CONVERSION_RULES
  yield
  RULES.CONVERSION_RULES = saved


def _tf_keras_unconverted():
  from tensorflow.python.autograph.impl import conversion  # pylint: disable=g-import-not-at-top
  layer_call = tf.keras.layers.Dense.call
  assert layer_call.__module__.startswith(keras_autograph.PACKAGE)
  return conversion.is_allowlisted(layer_call)


def _batches(rows=256, seed=0):
  rng = np.random.default_rng(seed)
  categorical = rng.integers(0, 50, size=(rows, len(features.CATEGORICAL_INPUTS)))
  ngrams = tf.sparse.from_dense(
      (rng.random((rows, 12)) < 0.3) * rng.integers(1, features.TEXT_VOCAB_SIZE + 1, size=(rows, 12)))
  labels = (categorical[:, 0] % 3 == 0).astype(np.float32)
  return {features.CATEGORICAL_XF: categorical,
          features.transformed_name(features.TEXT_FEATURE): ngrams}, labels


def _trained_weights():
  tf.keras.utils.set_random_seed(3)
  keras_model = model.get_model(model.DEFAULT_HPARAMS, 0.3, train_rows=256)
  x, y = _batches()
  keras_model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
  return [w.copy() for w in keras_model.get_weights()]


def test_tf_keras_joins_the_do_not_convert_list_once(original_rules):
  RULES.CONVERSION_RULES = tuple(
      r for r in RULES.CONVERSION_RULES
      if not (isinstance(r, RULES.DoNotConvert)
              and r.matches(keras_autograph.PACKAGE)))
  assert not _tf_keras_unconverted()
  before = len(RULES.CONVERSION_RULES)
  assert keras_autograph.leave_tf_keras_unconverted()
  assert keras_autograph.leave_tf_keras_unconverted()
  assert len(RULES.CONVERSION_RULES) == before + 1
  assert _tf_keras_unconverted()


def test_the_model_trains_to_the_same_weights_either_way(original_rules):
  unconverted = _trained_weights()   # get_model adds the rule
  RULES.CONVERSION_RULES = tuple(
      r for r in RULES.CONVERSION_RULES
      if not (isinstance(r, RULES.DoNotConvert)
              and r.matches(keras_autograph.PACKAGE)))
  original = keras_autograph.leave_tf_keras_unconverted
  keras_autograph.leave_tf_keras_unconverted = lambda: False
  try:
    assert not _tf_keras_unconverted()
    converted = _trained_weights()
  finally:
    keras_autograph.leave_tf_keras_unconverted = original
  assert len(converted) == len(unconverted)
  for a, b in zip(converted, unconverted):
    np.testing.assert_array_equal(a, b)
  assert any(np.abs(w).sum() > 0 for w in unconverted)
