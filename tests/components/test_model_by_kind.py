"""The model shaped by the dataset spec: the CFPB spec gives today's model,
numbers enter it, a multi-class label gets a softmax over the classes, and
each learns a rule it can learn on a few hundred made-up rows."""

import numpy as np
import pytest
import tensorflow as tf

from components import dataset_spec
from components import features
from components import model as cfpb_model
from components import model_by_kind
from components import transform_by_kind

HPARAMS = dict(cfpb_model.DEFAULT_HPARAMS)


def _layers(model):
  return sorted((layer.name, tuple(w.shape for w in layer.weights))
                for layer in model.layers if layer.weights)


@pytest.mark.parametrize('hidden_units', [0, 8])
def test_the_cfpb_spec_builds_todays_model(hidden_units):
  hparams = dict(HPARAMS, hidden_units=hidden_units)
  tf.keras.backend.clear_session()  # the same automatic layer names
  today = cfpb_model.get_model(hparams, label_rate=0.2, train_rows=1000)
  tf.keras.backend.clear_session()
  by_spec = model_by_kind.build(dataset_spec.load('cfpb'), hparams,
                                [0.8, 0.2], train_rows=1000)
  assert _layers(by_spec) == _layers(today)
  assert sorted(by_spec.input_names) == sorted(today.input_names)
  assert by_spec.output_names == today.output_names == [features.OUTPUT_KEY]
  np.testing.assert_allclose(
      by_spec.get_layer(cfpb_model.BIAS_LAYER).bias.numpy(),
      today.get_layer(cfpb_model.BIAS_LAYER).bias.numpy(), rtol=1e-6)


def test_initial_biases_are_the_base_rates():
  np.testing.assert_allclose(
      model_by_kind.initial_bias('binary', [0.75, 0.25]), [np.log(1 / 3)])
  logits = model_by_kind.initial_bias('multiclass', [0.5, 0.3, 0.2])
  np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(),
                             [0.5, 0.3, 0.2])


def _inputs(rng, rows, numeric_columns, categorical_columns):
  return {
      features.CATEGORICAL_XF: rng.integers(
          0, 50, size=(rows, categorical_columns + numeric_columns)),
      transform_by_kind.NUMERIC_XF: rng.normal(
          size=(rows, numeric_columns)).astype('float32'),
      transform_by_kind.NUMERIC_MISSING_XF: np.zeros(
          (rows, numeric_columns), 'float32')}


def test_penguins_a_softmax_that_learns_from_a_number():
  """Class = which third of the first number's range the row is in: only
  the numeric input says it, so a model that ignored the numbers could not
  get far past a third of the rows right."""
  spec = dataset_spec.load('penguins')
  tf.keras.utils.set_random_seed(7)
  rng = np.random.default_rng(7)
  inputs = _inputs(rng, 600, len(spec.of_kind('numeric')),
                   len(spec.of_kind('categorical')))
  first = inputs[transform_by_kind.NUMERIC_XF][:, 0]
  labels = np.digitize(first, [-0.43, 0.43])  # thirds of a standard normal
  model = model_by_kind.build(spec, dict(HPARAMS, hidden_units=16),
                              [1 / 3] * 3)
  assert model.output_shape == (None, 3)
  assert model.output_names == [spec.output_key]
  model.fit(inputs, labels, epochs=40, batch_size=64, verbose=0)
  probabilities = model.predict(inputs, verbose=0)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
  assert (probabilities.argmax(axis=1) == labels).mean() > 0.8


def test_taxi_a_sigmoid_over_numbers_and_categories():
  spec = dataset_spec.load('taxi')
  model = model_by_kind.build(spec, HPARAMS, [0.78, 0.22])
  assert model.output_shape == (None, 1)
  assert {transform_by_kind.NUMERIC_XF, transform_by_kind.NUMERIC_MISSING_XF,
          features.CATEGORICAL_XF} == set(model.input_names)
  assert model.get_layer(features.CATEGORICAL_XF).output.shape[1] == len(
      spec.features)  # each categorical and each numeric bucket


def test_typed_example_follows_the_schemas_types():
  from components import signatures  # pylint: disable=g-import-not-at-top
  types = {'hour': 'int64', 'fare': 'float', 'company': 'bytes'}
  example = signatures.typed_example(
      {'hour': '19', 'fare': 6.5, 'company': ' Flash Cab ', 'extra': 'x'},
      types)
  feature = example.features.feature
  assert list(feature['hour'].int64_list.value) == [19]
  assert list(feature['fare'].float_list.value) == [6.5]
  assert list(feature['company'].bytes_list.value) == [b'Flash Cab']
  assert 'extra' not in feature
  missing = signatures.typed_example({'hour': '', 'fare': float('nan')},
                                     types)
  assert not missing.features.feature
  with pytest.raises(ValueError, match="hour: '19.5' is not an integer"):
    signatures.typed_example({'hour': '19.5'}, types)
