"""Attribution drift's distance and noise bound, by hand (no model, no run).

Every expected number below is worked out in the comments from the
definition in pipeline/monitoring/attribution_drift.py: the change of a
feature's mean |attribution| over the model's whole eval dependency, and
noise_z standard errors of the difference of two independent means over
the same total.
"""

import math

import numpy as np
import pytest

from components import dataset_spec
from pipeline import config as pipeline_config
from pipeline.monitoring import attribution_drift
from pipeline.monitoring import monitor

Z95 = 1.959963984540054


def test_four_served_rows_are_within_the_noise():
  # Served |attribution| 0.2, 0.4, 0.6, 0.8: mean 0.5; deviations -0.3,
  # -0.1, 0.1, 0.3, squares summing to 0.2, sample variance 0.2/3, standard
  # error sqrt(0.2/3)/2 = 0.129099. Eval: mean 0.3, standard error 0.01.
  # Total dependency 2.0: distance |0.5 - 0.3| / 2 = 0.1; noise at z = 3:
  # 3 sqrt(0.01^2 + 0.129099^2) / 2 = 3 * 0.129486 / 2 = 0.194229.
  found = attribution_drift.attribution_shift(
      'narrative', 0.3, 0.01, 500, np.array([0.2, 0.4, 0.6, 0.8]), 2.0,
      0.05, 3.0)
  assert found['distance'] == pytest.approx(0.1)
  assert found['sampling_noise'] == pytest.approx(0.194229, abs=1e-6)
  assert found['applied_threshold'] == pytest.approx(0.194229, abs=1e-6)
  assert found['alert'] is False
  assert found['served_mean_abs'] == pytest.approx(0.5)
  assert found['change'] == pytest.approx(0.2)
  assert (found['values_training'], found['values_served']) == (500, 4)


def test_a_hundred_served_rows_alert_on_the_same_change():
  # 50 rows at 0.4 and 50 at 0.6: mean 0.5, every deviation 0.1, sample
  # variance 100 * 0.01 / 99, standard error 0.100504 / 10 = 0.0100504.
  # Noise: 3 sqrt(0.01^2 + 0.0100504^2) / 2 = 3 * 0.0141778 / 2 = 0.0212667,
  # below the threshold 0.05, which applies; distance 0.1 > 0.05: alert.
  served = np.array([0.4, 0.6] * 50)
  found = attribution_drift.attribution_shift(
      'narrative', 0.3, 0.01, 500, served, 2.0, 0.05, 3.0)
  assert found['distance'] == pytest.approx(0.1)
  assert found['sampling_noise'] == pytest.approx(0.0212667, abs=1e-6)
  assert found['applied_threshold'] == pytest.approx(0.05)
  assert found['alert'] is True
  # A decrease is the same distance (the change keeps its sign).
  fell = attribution_drift.attribution_shift(
      'narrative', 0.7, 0.01, 500, served, 2.0, 0.05, 3.0)
  assert fell['distance'] == pytest.approx(0.1)
  assert fell['change'] == pytest.approx(-0.2)


def test_the_standard_error_is_read_back_from_the_recorded_interval():
  # ModelAnalysis records mean +- 1.96 standard errors: 0.3 +- 0.0196 is a
  # standard error of 0.01; 0.1 +- 0.0392, of 0.02. Total 0.4.
  analysis = {'attributions': {'rows': 800, 'features': [
      {'feature': 'narrative', 'mean_abs': 0.3,
       'ci95': [0.3 - 0.01 * Z95, 0.3 + 0.01 * Z95]},
      {'feature': 'product', 'mean_abs': 0.1,
       'ci95': [0.1 - 0.02 * Z95, 0.1 + 0.02 * Z95]}]}}
  reference = attribution_drift.reference_of(analysis)
  assert reference.keys == ['narrative', 'product']
  assert reference.se.tolist() == pytest.approx([0.01, 0.02])
  assert reference.total == pytest.approx(0.4)
  assert reference.rows == 800
  # No attributions, or an interval that strict JSON wrote as null (one
  # eval row): no reference, so no finding rather than a made-up one.
  assert attribution_drift.reference_of(None) is None
  assert attribution_drift.reference_of({'error': 'no explain'}) is None
  analysis['attributions']['features'][1]['ci95'] = [None, None]
  assert attribution_drift.reference_of(analysis) is None


def _reference():
  # Eval: narrative 0.3 (se 0.01), product 0.1 (se 0.005); total 0.4.
  return attribution_drift.Reference(['narrative', 'product'], [0.3, 0.1],
                                     [0.01, 0.005], 800)


def test_findings_per_feature_with_the_per_feature_override():
  # Served: narrative 0.2 and 0.4 alternating (mean 0.3: unchanged),
  # product 0.15 and 0.25 (mean 0.2: +0.1, a quarter of the total 0.4).
  # Product's served standard error: sample sd 0.05 * sqrt(200/199),
  # / sqrt(200) = 0.0035444; noise 3 sqrt(0.005^2 + 0.0035444^2) / 0.4
  # = 3 * 0.0061290 / 0.4 = 0.045967 < 0.05.
  magnitudes = np.array([[0.2, 0.15], [0.4, 0.25]] * 100)
  found = attribution_drift.findings(_reference(), ['narrative', 'product'],
                                     magnitudes, 0.05, {}, 3.0)
  assert [f['feature'] for f in found] == ['product', 'narrative']
  product, narrative = found
  assert product['distance'] == pytest.approx(0.25)
  assert product['sampling_noise'] == pytest.approx(0.045967, abs=1e-6)
  assert product['alert'] is True
  assert narrative['distance'] == pytest.approx(0.0, abs=1e-12)
  assert narrative['alert'] is False
  # --feature-thresholds product_attribution=0.3 raises product's alone.
  lenient = attribution_drift.findings(
      _reference(), ['narrative', 'product'], magnitudes, 0.05,
      {attribution_drift.override_name('product'): 0.3, 'product': 0.01},
      3.0)
  assert [f['threshold'] for f in lenient] == [0.3, 0.05]
  assert not any(f['alert'] for f in lenient)


def test_multiclass_is_the_class_mean_and_summing_would_not_change_it():
  from components import dependency  # pylint: disable=g-import-not-at-top
  # Two rows, two features, two classes: |.| averaged over the classes:
  # row 1: (|0.2| + |-0.4|) / 2 = 0.3 and (0 + |0.6|) / 2 = 0.3;
  # row 2: (0.1 + 0.1) / 2 = 0.1 and (|-0.2| + 0) / 2 = 0.1.
  per_class = np.array([[[0.2, -0.4], [0.0, 0.6]],
                        [[0.1, 0.1], [-0.2, 0.0]]])
  averaged = dependency.magnitudes(per_class)
  assert averaged.ravel().tolist() == pytest.approx([0.3, 0.3, 0.1, 0.1])
  # Summed over the classes (twice the mean), with the reference summed
  # too: the distance and the noise over the total are the same.
  reference = _reference()
  summed = attribution_drift.Reference(reference.keys, reference.mean * 2,
                                       reference.se * 2, reference.rows)
  a = attribution_drift.findings(reference, reference.keys, averaged, 0.05,
                                 {}, 3.0)
  b = attribution_drift.findings(summed, reference.keys, averaged * 2, 0.05,
                                 {}, 3.0)
  assert len(a) == len(b) == 2
  for found, twice in zip(a, b):
    assert found['feature'] == twice['feature']
    assert found['distance'] == pytest.approx(twice['distance'])
    assert found['sampling_noise'] == pytest.approx(twice['sampling_noise'])


def test_nothing_to_compare_is_no_finding():
  reference = _reference()
  one_row = np.array([[0.3, 0.1]])
  assert attribution_drift.findings(reference, reference.keys, one_row,
                                    0.05, {}, 3.0) == []
  nothing = attribution_drift.Reference(['narrative'], [0.0], [0.0], 800)
  assert attribution_drift.findings(nothing, ['narrative'],
                                    np.zeros((10, 1)), 0.05, {}, 3.0) == []
  # A feature the reference does not know (another model's) is skipped.
  assert [f['feature'] for f in attribution_drift.findings(
      reference, ['narrative', 'tags'], np.ones((5, 2)), 0.05, {},
      3.0)] == ['narrative']
  judged = attribution_drift.judge(None, [{}, {}], 0.05, {}, 3.0, None)
  assert judged == {'attribution': [],
                    'attribution_note': 'no model to explain'}
  # A model whose run recorded no ModelAnalysis: why, and no finding (the
  # model is not even loaded: its folder does not exist).
  unanalysed = attribution_drift.Baseline('/nonexistent', None, 'no analysis')
  assert attribution_drift.judge(unanalysed, [{}, {}], 0.05, {}, 3.0,
                                 None) == {
      'attribution': [], 'attribution_note': 'no analysis'}
  one = attribution_drift.Baseline('/nonexistent', reference)
  assert attribution_drift.judge(one, [{}], 0.05, {}, 3.0, None)[
      'attribution_note'] == 'fewer than two requests to average'


def test_served_rows_become_the_explain_signatures_columns():
  """A numeric column float32 with NaN for missing, the rest bytes with b''
  for missing (what ModelAnalysis feeds the eval split)."""
  from components import attributions  # pylint: disable=g-import-not-at-top
  spec = dataset_spec.load('penguins')
  rows = [{'island': 'Dream', 'sex': '', 'bill_length_mm': 39.5,
           'bill_depth_mm': math.nan, 'flipper_length_mm': 181.0,
           'body_mass_g': 3750.0, 'year': '2007'},
          {'island': None, 'sex': 'male', 'bill_length_mm': 40.0,
           'bill_depth_mm': 18.0, 'flipper_length_mm': 190.0,
           'body_mass_g': 3800.0, 'year': '2008'}]
  columns = attribution_drift.row_columns(rows, attributions.parts(spec))
  assert list(columns) == [f.key for f in spec.features]
  assert columns['bill_length_mm'].dtype == np.float32
  assert columns['bill_length_mm'].tolist() == [39.5, 40.0]
  assert math.isnan(columns['bill_depth_mm'][0])
  assert columns['island'].tolist() == [b'Dream', b'']
  assert columns['sex'].tolist() == [b'', b'male']
  assert columns['year'].tolist() == [b'2007', b'2008']


def test_the_threshold_is_a_setting_of_monitor():
  config = pipeline_config.PipelineConfig(attribution_drift_threshold=0.2)
  assert monitor.Thresholds.from_config(config).attribution == 0.2
  assert monitor.Thresholds(skew=0.1, drift=0.1, prediction=0.02,
                            numeric=0.02,
                            noise_z=3.0).attribution == (
                                pipeline_config.PipelineConfig()
                                .attribution_drift_threshold)
  for bad in (0.0, 1.5):
    with pytest.raises(pipeline_config.ConfigError,
                       match='--attribution-drift-threshold must be above 0'):
      pipeline_config.PipelineConfig(attribution_drift_threshold=bad)
