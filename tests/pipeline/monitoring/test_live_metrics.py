"""Live metrics by task, against hand-worked values."""

import pytest

from pipeline.monitoring import live_metrics


def test_binary_auc_by_hand():
  # Positives score 0.9, 0.4; negatives 0.5, 0.1: of the 4 pairs, 3 are
  # ordered right (0.9>0.5, 0.9>0.1, 0.4>0.1), one wrong (0.4<0.5): 3/4.
  found = live_metrics.performance([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1])
  assert found['metric'] == 'AUC' and found['auc'] == 0.75
  assert found['positives'] == 2 and found['examples'] == 4
  assert found['calibration'] == pytest.approx((1.9 / 4) / 0.5)


def test_multiclass_macro_auc_accuracy_and_shares_by_hand():
  labels = [0, 0, 1, 1, 2, 2]
  probs = [[.8, .1, .1], [.5, .4, .1],     # class 0: argmax right twice
           [.4, .5, .1], [.6, .3, .1],     # class 1: right once
           [.1, .1, .8], [.1, .2, .7]]     # class 2: right twice
  found = live_metrics.performance(labels, probs, ('a', 'b', 'c'))
  assert found['metric'] == 'macro AUC'
  assert found['accuracy'] == pytest.approx(5 / 6)
  # One-vs-rest AUCs by hand. Class a: positives .8 .5 against negatives
  # .4 .6 .1 .1: .8 beats all 4, .5 beats 3 of 4 -> 7/8. Class b: .5 .3
  # against .1 .4 .1 .2: .5 beats 4, .3 beats 3 -> 7/8. Class c: .8 .7
  # against .1 .1 .1 .1: 8/8. Macro: (7/8 + 7/8 + 1) / 3.
  assert found['auc'] == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)
  low, high = found['auc_ci95']
  assert low <= found['auc'] <= high <= 1.0
  assert found['class_rows'] == {'a': 2, 'b': 2, 'c': 2}
  assert found['per_class']['a'] == pytest.approx(
      {'share': 1 / 3, 'mean_prediction': (.8 + .5 + .4 + .6 + .1 + .1) / 6})
  assert 'resampled' not in found


def test_one_class_only_has_no_auc():
  assert 'auc' not in live_metrics.performance([1, 1, 1], [0.2, 0.4, 0.9])
  assert 'auc' not in live_metrics.performance([2, 2], [[0, 0, 1], [0, .1, .9]])
