"""Fairness rates per group against counts and intervals worked by hand."""

import numpy as np
import pytest

from components import fairness


def test_wilson_interval_by_hand():
  # 0 of 10: the upper bound is z^2 / (n + z^2) = 3.8415 / 13.8415.
  low, high = fairness.wilson(0, 10)
  assert low == 0.0 and fairness.wilson(0, 35)[0] == 0.0
  assert fairness.wilson(35, 35)[1] == 1.0
  assert high == pytest.approx(3.841459 / 13.841459, abs=1e-6)
  # 5 of 10: 0.5 -+ 1.96 sqrt(0.025 + 1.96^2 / 400) / (1 + 1.96^2 / 10).
  low, high = fairness.wilson(5, 10)
  assert (low, high) == (pytest.approx(0.2366, abs=1e-4),
                         pytest.approx(0.7634, abs=1e-4))


def test_newcombe_difference_is_his_published_example():
  """Newcombe (1998), Statistics in Medicine 17:873, Table II, example (a):
  56/70 - 48/80 = 0.2000, method 10 interval 0.0524 to 0.3339."""
  diff, low, high = fairness.newcombe((56, 70), (48, 80))
  assert diff == pytest.approx(0.2)
  assert (low, high) == (pytest.approx(0.0524, abs=1e-4),
                         pytest.approx(0.3339, abs=1e-4))


def test_default_threshold_flags_the_positive_share():
  scores = np.linspace(0.01, 0.99, 100)
  labels = np.zeros(100, int)
  labels[::5] = 1  # 20% positives
  threshold = fairness.default_threshold(scores, labels)
  assert np.mean(scores >= threshold) == pytest.approx(0.2, abs=0.011)


def test_rates_per_slice_and_the_flagged_gap():
  """Two states of 100 rows, 50 negatives each: A flags 40 of its
  negatives, B 10: FPR 0.8 against 0.2, a gap of 0.6 whose interval
  leaves out 0. Both flag every positive (FNR 0)."""
  labels = np.array(([0] * 50 + [1] * 50) * 2)
  state = np.array(['A'] * 100 + ['B'] * 100)
  flagged = np.zeros(200, bool)
  flagged[:40] = True          # A: 40 of 50 negatives
  flagged[50:100] = True       # A: all positives
  flagged[100:110] = True      # B: 10 of 50 negatives
  flagged[150:200] = True      # B: all positives
  scores = np.where(flagged, 0.9, 0.1)
  found = fairness.fairness(scores, labels, {'state': state}, threshold=0.5)
  a = found['slices']['state']['A']
  b = found['slices']['state']['B']
  assert (a['false_positive_rate']['count'],
          a['false_positive_rate']['of']) == (40, 50)
  assert a['false_positive_rate']['value'] == pytest.approx(0.8)
  assert b['false_positive_rate']['value'] == pytest.approx(0.2)
  assert a['false_negative_rate']['value'] == 0.0
  assert a['positive_rate']['value'] == pytest.approx(0.9)
  assert a['false_positive_rate']['ci95'] == [
      pytest.approx(v) for v in fairness.wilson(40, 50)]
  gaps = {g['rate']: g for g in found['gaps']['state']}
  fpr = gaps['false_positive_rate']
  assert (fpr['highest'], fpr['lowest']) == ('A', 'B')
  assert fpr['gap'] == pytest.approx(0.6)
  assert fpr['ci95'] == [pytest.approx(v) for v in
                         fairness.newcombe((40, 50), (10, 50))[1:]]
  assert fpr['flagged'] and not gaps['false_negative_rate']['flagged']
  assert [g['rate'] for g in fairness.flagged_gaps(found)] == [
      'false_positive_rate', 'positive_rate']
  assert found['threshold'] == 0.5 and found['threshold_source'] == 'setting'


def test_small_slices_are_left_out_of_the_gaps():
  labels = np.array([0, 1] * 40)
  state = np.array(['A'] * 70 + ['B'] * 10)
  found = fairness.fairness(np.full(80, 0.7), labels, {'state': state},
                            threshold=0.5)
  assert set(found['slices']['state']) == {'A'}
  assert found['gaps']['state'] == []


def test_multiclass_decides_by_argmax_one_class_against_the_rest():
  scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5],
                     [0.6, 0.3, 0.1]] * 10)
  labels = np.array([0, 1, 1, 2] * 10)
  found = fairness.fairness(scores, labels, {'island': np.array(['x'] * 40)},
                            classes=['a', 'b', 'c'], min_rows=5)
  assert found['decision'] == 'argmax'
  b = found['per_class']['b']['overall']
  # Predicted: a, b, c, a; labels: a, b, b, c. b is predicted on the
  # second row of every four; its positives are the second and third.
  assert b['positive_rate']['value'] == pytest.approx(0.25)
  assert b['false_negative_rate']['value'] == pytest.approx(0.5)
  assert b['false_positive_rate']['value'] == 0.0
  c = found['per_class']['c']['overall']
  assert c['false_negative_rate']['value'] == 1.0  # row 4 never predicted c
