"""The spec-driven preprocessing_fn through tft_beam on a few rows, against
hand-computed values; and, for the CFPB spec, exactly today's outputs."""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from components import dataset_spec
from components import features
from components import transform_by_kind
from tests.components import test_transform

SPEC = """
name: trips
schema: trips.schema.pbtxt
label: {column: big_tipper, task: binary, classes: ["0", "1"], positive: "1"}
features:
  - {column: fare, kind: numeric, buckets: 2}
  - {column: hour, kind: categorical}
  - {column: payment, kind: categorical}
model: {name: trips, output: big_tipper_probability}
card: {purpose: p, intended_use: u, limitations: l}
"""
# fare: 2, 4, missing, 6 -> mean 4, population variance 8/3, so z = (x - 4)
# / 1.63299 = -1.22474, 0, (missing: 0), 1.22474; median boundary 4: buckets
# q0 (2 < 4), q1 (4, 6), missing.
FARES = [2.0, 4.0, None, 6.0]
Z = [-math.sqrt(1.5), 0.0, 0.0, math.sqrt(1.5)]


def _run(preprocessing_fn, rows, feature_spec, work):
  out = str(work / 'transform_output')
  with tft_beam.Context(temp_dir=str(work / 'tft')):
    (data, _), transform_fn = (
        (rows, dataset_metadata.DatasetMetadata.from_feature_spec(
            feature_spec))
        | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
    _ = transform_fn | tft_beam.WriteTransformFn(out)
  return data, tft.TFTransformOutput(out)


@pytest.fixture(scope='module')
def trips(tmp_path_factory):
  work = tmp_path_factory.mktemp('trips')
  (work / 'trips.yaml').write_text(SPEC)
  spec = dataset_spec.load(str(work / 'trips.yaml'))
  rows = [{'fare': [f] if f is not None else [], 'hour': [h],
           'payment': [p.encode()], 'big_tipper': [t]}
          for f, h, p, t in zip(FARES, [19, 19, 7, 8],
                                ['Cash', 'Card', 'Card', ''],
                                [0, 1, 0, 1])]
  feature_spec = {'fare': tf.io.VarLenFeature(tf.float32),
                  'hour': tf.io.FixedLenFeature([1], tf.int64),
                  'payment': tf.io.FixedLenFeature([1], tf.string),
                  'big_tipper': tf.io.FixedLenFeature([1], tf.int64)}
  fn = functools.partial(transform_by_kind.preprocessing_fn,
                         custom_config={'dataset': spec.to_config()})
  return _run(fn, rows, feature_spec, work)


def test_numeric_columns_are_scaled_with_a_missing_indicator(trips):
  data, _ = trips
  np.testing.assert_allclose(
      [row[transform_by_kind.NUMERIC_XF][0] for row in data], Z, atol=1e-5)
  assert [row[transform_by_kind.NUMERIC_MISSING_XF][0] for row in data] == [
      0.0, 0.0, 1.0, 0.0]


def test_categoricals_and_numeric_buckets_share_one_vocabulary(trips):
  data, output = trips
  vocabulary = [t.decode() for t in output.vocabulary_by_name(
      features.CATEGORICAL_VOCAB)]
  tokens = [[vocabulary[i] for i in row[features.CATEGORICAL_XF]]
            for row in data]
  assert tokens == [
      ['hour=19', 'payment=Cash', 'fare=q0'],
      ['hour=19', 'payment=Card', 'fare=q1'],
      ['hour=7', 'payment=Card', f'fare={features.MISSING_TOKEN}'],
      ['hour=8', f'payment={features.MISSING_TOKEN}', 'fare=q1']]
  assert [row['big_tipper'] for row in data] == [0, 1, 0, 1]


def test_for_the_cfpb_spec_the_outputs_are_todays(three_rows_transformed,
                                                  tmp_path):
  """The same rows through components.transform and through the spec's
  function: equal outputs and vocabularies, so the pipeline can move.
  components.transform's run is conftest.py's three_rows_transformed (the
  one test_transform checks by hand)."""
  raw = test_transform.raw_rows()  # the three rows of test_transform
  feature_spec = test_transform.raw_feature_spec()
  spec = dataset_spec.load('cfpb')
  today, today_output = three_rows_transformed
  by_spec, spec_output = _run(
      functools.partial(transform_by_kind.preprocessing_fn,
                        custom_config={'dataset': spec.to_config()}),
      raw, feature_spec, tmp_path / 'spec')
  assert len(today) == len(by_spec) == 3
  for a, b in zip(today, by_spec):
    assert set(a) == set(b)
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  for name in (features.CATEGORICAL_VOCAB,
               features.vocabulary_name(features.TEXT_FEATURE)):
    assert (today_output.vocabulary_by_name(name)
            == spec_output.vocabulary_by_name(name))
