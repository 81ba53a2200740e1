"""Attributions per raw feature against values worked out by hand.

The wide model's weights are set by hand (zero but for a few), so each
feature's contribution to the logit is a sum written out below; the
exported `explain` signature is checked on a real Transform graph (the
three rows of test_transform, conftest.py) against the vocabulary's ids.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components import attributions
from components import dataset_spec
from components import features
from components import layer_names
from components import model as cfpb_model
from components import model_by_kind
from components import signatures
from components import transform_by_kind

OOV = features.CATEGORICAL_VOCAB_SIZE  # the first OOV bucket's id


def _set(model, layer, rows: dict, bias=None):
  """Zero weights but the given rows of a layer's kernel (and its bias)."""
  layer = model.get_layer(layer)
  kernel = np.zeros(layer.kernel.shape, np.float32)
  for index, value in rows.items():
    kernel[index] = value
  layer.kernel.assign(kernel)
  if bias is not None:
    layer.bias.assign(np.asarray(bias, np.float32))


def _sparse(rows):
  return tf.SparseTensor(
      indices=np.array([[i, j] for i, row in enumerate(rows)
                        for j in range(len(row))], np.int64).reshape(-1, 2),
      values=np.array([v for row in rows for v in row], np.int64),
      dense_shape=[len(rows), max(len(row) for row in rows) or 1])


@pytest.fixture(scope='module')
def wide():
  """The CFPB wide model with hand-set weights, and two transformed rows.

  Weights: categorical id 1: +0.5, id 2: -1.0, id 3: +2.0, the first OOV
  bucket +0.8, bias -1.5; n-gram id 7: +1.25, id 9: -0.5.
  Row A: ids 1, 2, 3 in the first three columns (product, sub_product,
  issue), id 0 (weight 0) elsewhere; n-grams 7, 7, 9 (7 repeated).
  Row B: the first two columns both in the first OOV bucket (two unseen
  values hashed alike), id 3 in the third; no n-grams.
  """
  model = cfpb_model.get_model(cfpb_model.DEFAULT_HPARAMS)
  _set(model, layer_names.WIDE_CATEGORICAL,
       {1: [0.5], 2: [-1.0], 3: [2.0], OOV: [0.8]}, bias=[-1.5])
  _set(model, layer_names.wide_text(features.TEXT_FEATURE),
       {7: [1.25], 9: [-0.5]})
  width = len(features.CATEGORICAL_INPUTS)
  ids = np.zeros((2, width), np.int64)
  ids[0, :3] = [1, 2, 3]
  ids[1, :3] = [OOV, OOV, 3]
  inputs = {features.CATEGORICAL_XF: tf.constant(ids),
            features.transformed_name(features.TEXT_FEATURE):
                _sparse([[7, 7, 9], []])}
  return model, inputs


def test_contributions_are_the_wide_weights_each_feature_holds(wide):
  model, inputs = wide
  found = attributions.contributions(model, inputs).numpy()[..., 0]
  expected = np.zeros((2, len(features.RAW_FEATURES)))
  # Row A: 0.5, -1.0, 2.0; the narrative 1.25 (7 once) - 0.5 = 0.75.
  expected[0, :3] = [0.5, -1.0, 2.0]
  expected[0, -1] = 0.75
  # Row B: the OOV bucket's 0.8 counts once in the multi-hot: 0.4 each.
  expected[1, :3] = [0.4, 0.4, 2.0]
  np.testing.assert_allclose(found, expected, atol=1e-6)
  # With the bias they are the model's own logit: 0.75 and 1.3.
  probabilities = model(inputs).numpy().ravel()
  np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-np.array(
      [0.75, 1.3]))), rtol=1e-5)


def test_attributions_are_measured_from_the_reference_mean(wide):
  model, inputs = wide
  reference = attributions.reference_means(model, [inputs],
                                           features.OUTPUT_KEY)
  assert reference[2] == 2
  out = {k: v.numpy() for k, v in attributions.export_function(
      model, features.OUTPUT_KEY, reference=reference)(inputs).items()}
  # Means: product (0.5 + 0.4) / 2 = 0.45, sub_product (-1.0 + 0.4) / 2 =
  # -0.3, issue 2.0, narrative 0.375; the mean logit (0.75 + 1.3) / 2.
  row_a = np.zeros(len(features.RAW_FEATURES))
  row_a[:3] = [0.05, -0.7, 0.0]
  row_a[-1] = 0.375
  np.testing.assert_allclose(out[attributions.ATTRIBUTIONS][0], row_a,
                             atol=1e-6)
  np.testing.assert_allclose(out[attributions.BASELINE], [1.025, 1.025],
                             atol=1e-6)
  np.testing.assert_allclose(out[attributions.LOGITS], [0.75, 1.3],
                             atol=1e-6)
  # They add up to the logit minus the baseline: -0.275 and +0.275.
  np.testing.assert_allclose(out[attributions.ATTRIBUTIONS].sum(axis=1),
                             [-0.275, 0.275], atol=1e-6)
  np.testing.assert_allclose(out[attributions.APPROXIMATION_ERROR], 0,
                             atol=1e-6)


def test_multiclass_numbers_per_class_by_hand():
  """Penguins' softmax over 3 classes: a numeric column's bucket, z-score
  and missing-indicator weights add up, per class."""
  spec = dataset_spec.load('penguins')
  model = model_by_kind.build(spec, cfpb_model.DEFAULT_HPARAMS,
                              [0.4, 0.2, 0.4])
  numeric = spec.of_kind('numeric')
  categorical = spec.of_kind('categorical')
  n = len(numeric)
  # bill_length_mm (numeric 0): z weight [1, 0, -1], missing [0, 2, 0];
  # its bucket's id 4: [0.5, 0, 0]; island (categorical 0) id 6: [0, 0, 3].
  _set(model, layer_names.WIDE_NUMERIC, {0: [1.0, 0.0, -1.0],
                                         n: [0.0, 2.0, 0.0]})
  _set(model, layer_names.WIDE_CATEGORICAL, {4: [0.5, 0, 0], 6: [0, 0, 3]},
       bias=[0.1, 0.2, 0.3])
  ids = np.zeros((2, len(categorical) + n), np.int64)
  ids[:, 0] = 6
  ids[:, len(categorical)] = 4
  z = np.zeros((2, n), np.float32)
  z[0, 0] = 1.5          # row 0: bill length 1.5 sd above the mean
  missing = np.zeros((2, n), np.float32)
  missing[1, 0] = 1.0    # row 1: bill length missing (z 0)
  inputs = {features.CATEGORICAL_XF: tf.constant(ids),
            transform_by_kind.NUMERIC_XF: tf.constant(z),
            transform_by_kind.NUMERIC_MISSING_XF: tf.constant(missing)}
  found = attributions.contributions(model, inputs, spec).numpy()
  keys = attributions.feature_keys(spec)
  bill = keys.index('bill_length_mm')
  # Row 0: 0.5 + 1.5 * 1 | 0 | 1.5 * -1; row 1: 0.5 | 2 | 0.
  np.testing.assert_allclose(found[:, bill], [[2.0, 0.0, -1.5],
                                              [0.5, 2.0, 0.0]], atol=1e-6)
  np.testing.assert_allclose(found[:, keys.index('island')],
                             [[0, 0, 3], [0, 0, 3]], atol=1e-6)
  others = [i for i, k in enumerate(keys) if k not in ('bill_length_mm',
                                                       'island')]
  np.testing.assert_allclose(found[:, others], 0.0, atol=1e-6)
  out = attributions.export_function(
      model, spec.output_key, spec,
      attributions.reference_means(model, [inputs], spec.output_key,
                                   spec))(inputs)
  assert out[attributions.ATTRIBUTIONS].shape == (2, len(keys), 3)
  # Means of bill length per class: [1.25, 1, -0.75]; the logits' mean is
  # the bias plus the means: [0.1 + 1.25, 0.2 + 1, 0.3 - 0.75 + 3].
  np.testing.assert_allclose(out[attributions.ATTRIBUTIONS][0, bill],
                             [0.75, -1.0, -0.75], atol=1e-6)
  np.testing.assert_allclose(out[attributions.BASELINE][0],
                             [1.35, 1.2, 2.55], atol=1e-6)
  np.testing.assert_allclose(out[attributions.LOGITS][0],
                             [2.1, 0.2, 1.8], atol=1e-6)


def test_a_deep_branch_is_left_unattributed_and_reported_as_the_error():
  spec = dataset_spec.load('taxi')
  tf.keras.utils.set_random_seed(3)
  model = model_by_kind.build(spec, dict(cfpb_model.DEFAULT_HPARAMS,
                                         hidden_units=8), [0.7, 0.3])
  rng = np.random.default_rng(3)
  n = len(spec.of_kind('numeric'))
  inputs = {
      features.CATEGORICAL_XF: tf.constant(rng.integers(
          0, 40, size=(16, len(spec.features))), tf.int64),
      transform_by_kind.NUMERIC_XF: tf.constant(
          rng.normal(size=(16, n)), tf.float32),
      transform_by_kind.NUMERIC_MISSING_XF: tf.zeros((16, n))}
  reference = attributions.reference_means(model, [inputs],
                                           spec.output_key, spec)
  out = {k: v.numpy() for k, v in attributions.export_function(
      model, spec.output_key, spec, reference)(inputs).items()}
  gap = (out[attributions.LOGITS] - out[attributions.BASELINE]
         - out[attributions.ATTRIBUTIONS].sum(axis=1))
  # What is left is the deep branch, from its mean: the reported error.
  np.testing.assert_allclose(np.abs(gap), out[
      attributions.APPROXIMATION_ERROR], atol=1e-5)
  assert out[attributions.APPROXIMATION_ERROR].max() > 1e-3
  assert attributions.description(model, spec)['method'] == (
      attributions.METHOD_WIDE_PART)


def test_the_exported_explain_signature_on_raw_complaints(
    three_rows_transformed, tmp_path):
  """Through the real Transform graph: a Mortgage complaint's product
  attribution is the weight of the vocabulary's 'product=Mortgage' less
  its mean over the reference rows, and explain answers what predict_raw
  answers."""
  _, output = three_rows_transformed
  vocabulary = [t.decode() for t in output.vocabulary_by_name(
      features.CATEGORICAL_VOCAB)]
  mortgage = vocabulary.index('product=Mortgage')
  card = vocabulary.index('product=Credit card')
  model = cfpb_model.get_model(cfpb_model.DEFAULT_HPARAMS)
  _set(model, layer_names.WIDE_CATEGORICAL,
       {mortgage: [1.5], card: [-0.5]}, bias=[-1.0])
  _set(model, layer_names.wide_text(features.TEXT_FEATURE), {})
  complaints = [dict({k: '' for k in features.RAW_FEATURES},
                     product=product, narrative='late fee')
                for product in ('Mortgage', 'Mortgage', 'Credit card')]
  # The reference: the three complaints, as Transform's layer gives them.
  layer = output.transform_features_layer()
  transformed = layer({k: tf.constant([c[k] for c in complaints])
                       for k in features.RAW_FEATURES})
  reference = attributions.reference_means(model, [transformed],
                                           features.OUTPUT_KEY)
  export_dir = str(tmp_path / '1')
  signatures.export(model, output, export_dir, reference=reference)
  loaded = tf.saved_model.load(export_dir)
  columns = {k: tf.constant([c[k] for c in complaints])
             for k in features.RAW_FEATURES}
  out = loaded.signatures[attributions.SIGNATURE](**columns)
  product = features.RAW_FEATURES.index(features.PRODUCT)
  # Mean product weight (1.5 + 1.5 - 0.5) / 3 = 0.8333...
  np.testing.assert_allclose(
      out[attributions.ATTRIBUTIONS].numpy()[:, product],
      [1.5 - 2.5 / 3, 1.5 - 2.5 / 3, -0.5 - 2.5 / 3], atol=1e-6)
  np.testing.assert_allclose(out[attributions.BASELINE].numpy(),
                             -1.0 + 2.5 / 3, atol=1e-6)
  predicted = loaded.signatures[features.RAW_SIGNATURE](**columns)
  np.testing.assert_allclose(out[features.OUTPUT_KEY].numpy(),
                             predicted[features.OUTPUT_KEY].numpy(),
                             atol=1e-7)
  with open(os.path.join(export_dir, attributions.DESCRIPTION_FILE),
            encoding='utf-8') as f:
    described = json.load(f)
  assert described['features'] == features.RAW_FEATURES
  assert described['method'] == attributions.METHOD_EXACT
  assert described['reference_rows'] == 3
