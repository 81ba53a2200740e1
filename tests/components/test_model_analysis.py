"""The analysis on an exported model whose dependency is set by hand: only
the product's weights are not zero, so only the product may show in the
attributions and the permutation importance, and its numbers are known."""

import json

import numpy as np
import pytest
import tensorflow as tf

from components import dataset_spec
from components import features
from components import layer_names
from components import model as cfpb_model
from components import model_analysis
from components import signatures
from data import label_model
from tests.components.test_attributions import _set


@pytest.fixture(scope='module')
def exported(three_rows_transformed, tmp_path_factory):
  """The CFPB model with weight +1.5 on product=Mortgage, -0.5 on
  product=Credit card and 0 elsewhere, exported on the three-row graph;
  80 complaints, half Mortgage (label 1 for 30 of them), half Credit card
  (label 1 for 10)."""
  _, output = three_rows_transformed
  vocabulary = [t.decode() for t in output.vocabulary_by_name(
      features.CATEGORICAL_VOCAB)]
  model = cfpb_model.get_model(cfpb_model.DEFAULT_HPARAMS)
  _set(model, layer_names.WIDE_CATEGORICAL,
       {vocabulary.index('product=Mortgage'): [1.5],
        vocabulary.index('product=Credit card'): [-0.5]}, bias=[-1.0])
  _set(model, layer_names.wide_text(features.TEXT_FEATURE), {})
  export_dir = str(tmp_path_factory.mktemp('analysis') / '1')
  signatures.export(model, output, export_dir)
  complaints = [{'product': 'Mortgage' if i < 40 else 'Credit card',
                 'state': 'CA' if i % 2 else 'TX',
                 'narrative': f'complaint number {i}'} for i in range(80)]
  labels = [int(i < 30 or 40 <= i < 50) for i in range(80)]
  records = [signatures.example_from_fields(c).SerializeToString()
             for c in complaints]
  return export_dir, records, labels


def test_only_the_weighted_feature_shows(exported):
  export_dir, records, labels = exported
  found = model_analysis.analyze(records, labels, export_dir, repeats=2,
                                 resamples=30)
  by_feature = {r['feature']: r['mean_abs']
                for r in found['attributions']['features']}
  # Product: +1.5 or -0.5 around their mean 0.5: |1.0| on every row.
  assert by_feature['product'] == pytest.approx(1.0, abs=1e-6)
  assert all(v == pytest.approx(0.0, abs=1e-6)
             for k, v in by_feature.items() if k != 'product')
  importance = {r['feature']: r for r in
                found['permutation_importance']['features']}
  assert importance['product+sub_product']['auc_drop'] > 0
  for name, row in importance.items():
    if name != 'product+sub_product':
      assert row['auc_drop'] == pytest.approx(0.0, abs=1e-12), name
  # Mortgage (the higher score) has 30 of the 40 positives: the AUC is
  # P(positive outranks negative) = (30 * 30 + 0.5 * (30 * 10 + 10 * 30))
  # / (40 * 40).
  assert found['permutation_importance']['base_auc'] == pytest.approx(
      (30 * 30 + 0.5 * 600) / 1600)
  # Half the rows positive: the default threshold flags the higher half,
  # every Mortgage complaint.
  fairness = found['fairness']
  assert fairness['threshold_source'].startswith('the default')
  by_product = fairness['slices']['product']
  assert by_product['Mortgage']['positive_rate']['value'] == 1.0
  assert by_product['Mortgage']['false_positive_rate']['value'] == 1.0
  assert by_product['Credit card']['false_negative_rate']['value'] == 1.0
  assert by_product['Credit card']['positive_rate']['value'] == 0.0
  json.dumps(model_analysis.finite(found), allow_nan=False)
  # Beside it, the generator's label model on the same rows, from its
  # tables: product Mortgage +0.3, Credit card -0.1 (mean 0.1, each 0.2
  # away); states CA and TX alternate; no dispute phrase in a narrative.
  truth = {g['feature']: g['mean_abs'] for g in
           found['attributions']['label_model']['groups']}
  assert truth['product+sub_product'] == pytest.approx(0.2)
  half_gap = abs(label_model.hashed_effect(
      'CA', 'State', label_model.STATE_SCALE) - label_model.hashed_effect(
          'TX', 'State', label_model.STATE_SCALE)) / 2
  assert truth['state+zip_code'] == pytest.approx(half_gap)
  assert truth['narrative'] == 0.0 and truth['company'] == 0.0


def test_wire_columns_type_each_column_as_predict_raw_takes_it():
  spec = dataset_spec.load('taxi')
  types = {f.key: ('float' if f.kind == 'numeric' else 'bytes')
           for f in spec.features}
  types['trip_start_hour'] = 'int64'
  example = signatures.typed_example({'fare': 6.5, 'trip_start_hour': '19',
                                      'company': 'Flash Cab'}, types)
  columns = model_analysis.wire_columns([example.SerializeToString()], spec)
  assert columns['fare'].dtype == np.float32 and columns['fare'][0] == 6.5
  assert np.isnan(columns['trip_miles'][0])
  assert columns['trip_start_hour'][0] == b'19'
  assert columns['company'][0] == b'Flash Cab'
  assert columns['payment_type'][0] == b''
  tf.debugging.assert_equal(len(columns), len(spec.features))
