"""The A/B verdict on traffic whose difference is known by construction.

Scores are drawn so that each version's true AUC is known: a disputed
complaint's score is Normal(separation, 1), an undisputed one's Normal(0, 1),
so the AUC is Phi(separation / sqrt(2)) whatever the rows.
"""

import math

import numpy as np
import pytest

from data import metrics
from pipeline.monitoring import ab_test


def _arm(version, rows, separation, seed, label=''):
  rng = np.random.default_rng(seed)
  labels = (rng.random(rows) < 0.5).astype(int)
  scores = rng.normal(separation * labels, 1.0)
  return ab_test.Arm(version, labels.tolist(),
                     (1 / (1 + np.exp(-scores))).tolist(), label)


def _true_auc(separation):
  return 0.5 * (1 + math.erf(separation / 2))  # Phi(s / sqrt 2)


def test_a_canary_known_to_be_worse_is_kept():
  found = ab_test.verdict(_arm('1', 3000, 1.2, 1), _arm('2', 3000, 0.6, 2))
  assert found['verdict'] == ab_test.KEEP
  assert found['diff_ci95'][1] < 0
  expected = _true_auc(0.6) - _true_auc(1.2)   # about -0.14
  assert found['diff'] == pytest.approx(expected, abs=0.04)


def test_versions_known_not_to_differ_promote_the_canary_given_traffic():
  found = ab_test.verdict(_arm('1', 40000, 1.0, 3), _arm('2', 40000, 1.0, 4))
  assert found['verdict'] == ab_test.PROMOTE
  low, high = found['diff_ci95']
  assert low > -0.02 and low < 0 < high


def test_a_canary_known_to_be_better_is_promoted():
  found = ab_test.verdict(_arm('1', 3000, 0.6, 5), _arm('2', 3000, 1.2, 6))
  assert found['verdict'] == ab_test.PROMOTE and found['diff_ci95'][0] > 0


def test_too_little_traffic_has_no_verdict_yet():
  found = ab_test.verdict(_arm('1', 50, 1.0, 7), _arm('2', 5000, 1.0, 8))
  assert found['verdict'] == ab_test.NOT_ENOUGH
  assert 'version 1 has fewer than 30' in found['reason']
  # Equal versions on moderate traffic: an interval wider than the margin.
  found = ab_test.verdict(_arm('1', 1500, 1.0, 9), _arm('2', 1500, 1.0, 10))
  assert found['verdict'] == ab_test.NOT_ENOUGH
  assert found['diff_ci95'][0] < -0.02 < 0 < found['diff_ci95'][1]
  assert found['rows_needed_per_version'] > 1500


def test_each_arm_reports_its_own_auc_and_error():
  arm = _arm('1', 4000, 1.0, 11)
  found = ab_test.verdict(arm, _arm('2', 4000, 1.0, 12))['stable']
  # An independent AUC (data.metrics' rank formula), and Hanley-McNeil's
  # error, which the DeLong error must be close to on such scores.
  assert found['auc'] == pytest.approx(
      metrics.roc_auc(arm.predictions, arm.labels), abs=1e-9)
  low, high = metrics.auc_confidence_interval(
      found['auc'], found['positives'], found['examples'] - found['positives'])
  assert found['auc_se'] == pytest.approx((high - low) / (2 * 1.96),
                                          rel=0.15)
  assert found['calibration'] == pytest.approx(
      np.mean(arm.predictions) / np.mean(arm.labels))


def test_arms_take_the_canary_by_label_else_the_newer_version():
  rows = [{'id': str(i), 'v': 5 if i % 2 else 9, 'p': i / 10}
          for i in range(10)]
  labels = {str(i): i % 3 == 0 for i in range(10)}
  stable, canary = ab_test.arms(rows, labels, 'id', 'v', 'l', 'p')
  assert (stable.version, canary.version) == ('5', '9')
  for row in rows:
    row['l'] = 'canary' if row['v'] == 5 else 'stable'
  stable, canary = ab_test.arms(rows, labels, 'id', 'v', 'l', 'p')
  assert (stable.version, canary.version) == ('9', '5')
  assert canary.label == 'canary' and len(canary.labels) == 5
  assert ab_test.arms(rows[:1], labels, 'id', 'v', 'l', 'p') is None


# Multi-class arms. Known by construction: a model that gives every row its
# true class the highest probability has a one-vs-rest AUC of exactly 1 for
# every class; one whose probabilities ignore the row (the same vector for
# all) ranks every row as a tie: each class's AUC is exactly 0.5.
CLASSES = 3


def _multiclass_arm(version, rows, informed, seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, CLASSES, rows)
  if informed:
    scores = np.eye(CLASSES)[labels] * 0.6 + 0.2
  else:
    scores = np.tile([0.5, 0.3, 0.2], (rows, 1))
  return ab_test.Arm(version, labels.tolist(), scores.tolist())


def test_multiclass_each_arm_is_judged_on_its_macro_auc():
  found = ab_test.verdict(_multiclass_arm('1', 600, False, 1),
                          _multiclass_arm('2', 600, True, 2))
  assert found['metric'] == 'macro AUC'
  assert found['stable']['auc'] == 0.5 and found['canary']['auc'] == 1.0
  # Every resample of each arm gives the same AUC: a difference of exactly
  # +0.5 with no spread, far past the margin: promote.
  assert found['diff'] == 0.5 and found['diff_ci95'] == [0.5, 0.5]
  assert found['verdict'] == ab_test.PROMOTE
  assert found['canary']['accuracy'] == 1.0
  assert 'resampled' not in found['stable']


def test_multiclass_canary_known_to_be_worse_is_kept():
  found = ab_test.verdict(_multiclass_arm('1', 600, True, 3),
                          _multiclass_arm('2', 600, False, 4))
  assert found['verdict'] == ab_test.KEEP
  assert found['diff'] == -0.5 and found['diff_ci95'][1] < 0


def _noisy_multiclass_arm(version, rows, separation, seed):
  """Each class's score is Normal(separation, 1) on its own rows and
  Normal(0, 1) elsewhere, so each one-vs-rest AUC is Phi(s / sqrt 2)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, CLASSES, rows)
  scores = rng.normal(separation * np.eye(CLASSES)[labels], 1.0)
  return ab_test.Arm(version, labels.tolist(), scores.tolist())


def test_multiclass_equal_arms_need_traffic_then_promote():
  few = ab_test.verdict(_noisy_multiclass_arm('1', 300, 1.0, 5),
                        _noisy_multiclass_arm('2', 300, 1.0, 6))
  assert few['verdict'] == ab_test.NOT_ENOUGH
  assert few['diff_ci95'][0] < -0.02 < 0 < few['diff_ci95'][1]
  assert few['rows_needed_per_version'] > 300
  many = ab_test.verdict(_noisy_multiclass_arm('1', 20000, 1.0, 7),
                         _noisy_multiclass_arm('2', 20000, 1.0, 8))
  assert many['verdict'] == ab_test.PROMOTE
  expected = 0.5 * (1 + math.erf(1.0 / 2))
  assert many['stable']['auc'] == pytest.approx(expected, abs=0.01)
  assert -0.02 < many['diff_ci95'][0] < 0 < many['diff_ci95'][1]


def test_multiclass_a_class_too_rare_has_no_verdict_yet():
  arm = _multiclass_arm('1', 600, True, 9)
  labels = [0 if label == 2 else label for label in arm.labels]
  labels[:5] = [2] * 5       # class 2: 5 rows, under min_class_rows 30
  rare = ab_test.Arm('1', labels, arm.predictions)
  found = ab_test.verdict(rare, _multiclass_arm('2', 600, True, 10))
  assert found['verdict'] == ab_test.NOT_ENOUGH
  assert 'version 1 has fewer than 30' in found['reason']
