"""The judge's statistics and decisions on scores written out here.

Expected values never come from the code under test (the judge calls
data.metrics): AUCs from scikit-learn's roc_auc_score, the Hanley-McNeil
interval from its formula written out below, DeLong's standard error from a
small example worked by hand and from a paired bootstrap computed here.
"""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components import judge

# Quantiles of the standard normal, from a table: the judge's one-sided
# bound at significance 0.05, its two-sided 95% interval, and the 1.96 of
# the Hanley-McNeil interval (data.metrics.auc_confidence_interval's z).
Z_ONE_SIDED_05 = 1.6448536
Z_TWO_SIDED_95 = 1.9599640

# A worked example: 3 positives (rows 0-2), 3 negatives (rows 3-5), two
# models scoring the same rows; psi(x, y) = 1 if x > y, 1/2 if equal, else 0.
LABELS = [1, 1, 1, 0, 0, 0]
A = [0.8, 0.6, 0.4, 0.5, 0.3, 0.2]
B = [0.7, 0.2, 0.5, 0.6, 0.1, 0.5]
# DeLong's placements, per positive V10 = mean over negatives of psi, per
# negative V01 = mean over positives of psi:
#   A: V10 = [1, 1, 2/3] (0.4 beats 0.3 and 0.2 only), V01 = [2/3, 1, 1]
#      -> AUC 8/9
#   B: V10 = [1, 1/3, 1/2] (0.5 ties the negative 0.5), V01 = [1/3, 1, 1/2]
#      -> AUC 11/18
# Differences A - B: D10 = [0, 2/3, 1/6], D01 = [1/3, 0, 1/2], both of mean
# 5/18; their sample variances (n - 1): D10 (25 + 49 + 4)/324 / 2 = 13/108,
# D01 (1 + 25 + 16)/324 / 2 = 7/108. Var(diff) = (13/108)/3 + (7/108)/3
# = 5/81, so SE = sqrt(5)/9.
AUC_A, AUC_B = 8 / 9, 11 / 18
DIFF, DIFF_SE = 5 / 18, math.sqrt(5) / 9
# A alone: V10 and V01 each have variance ((1/9)^2 * 2 + (2/9)^2)/2 = 1/27:
# SE^2 = (1/27)/3 + (1/27)/3 = 2/81.
SE_A = math.sqrt(2) / 9
# Hanley-McNeil for A = 8/9, 3 and 3 cases: Q1 = A/(2-A) = 4/5, Q2 =
# 2A^2/(1+A) = 128/153, A^2 = 64/81; SE^2 = (A(1-A) + 2(Q1-A^2) + 2(Q2-A^2))/9
# = (680 + 136 + 640)/6885/9 = 1456/61965.
HM_SE_A = math.sqrt(1456 / 61965)


def _hanley_mcneil_low(auc, positives, negatives, z=1.96):
  """Hanley & McNeil (1982), eq. 2, written out here (not data.metrics)."""
  q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
  se = math.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - auc ** 2) +
                  (negatives - 1) * (q2 - auc ** 2)) / (positives * negatives))
  return max(0.0, auc - z * se)


def _scores(rng, labels, strength):
  """Scores that separate the classes by `strength` standard deviations."""
  return rng.normal(size=len(labels)) + strength * labels


def test_delong_aucs_and_standard_error_match_a_paired_bootstrap():
  rng = np.random.default_rng(0)
  labels = (rng.random(600) < 0.2).astype(int)
  a = _scores(rng, labels, 1.0)
  b = a + rng.normal(scale=0.8, size=len(a))  # correlated, weaker
  test = judge.delong(labels, a, b)
  assert test['auc_a'] == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
  assert test['auc_b'] == pytest.approx(roc_auc_score(labels, b), abs=1e-12)
  diffs = []
  for _ in range(400):
    pick = rng.integers(0, len(labels), len(labels))
    if 0 < labels[pick].sum() < len(pick):
      diffs.append(roc_auc_score(labels[pick], a[pick]) -
                   roc_auc_score(labels[pick], b[pick]))
  assert test['diff_se'] == pytest.approx(np.std(diffs), rel=0.2)
  # The same model twice: no difference and no spread.
  same = judge.delong(labels, a, a)
  assert same['diff'] == 0.0 and same['diff_se'] == pytest.approx(0.0,
                                                                   abs=1e-12)


def test_delong_on_the_worked_example():
  test = judge.delong(LABELS, A, B)
  assert test['auc_a'] == pytest.approx(AUC_A, abs=1e-12)
  assert test['auc_b'] == pytest.approx(AUC_B, abs=1e-12)
  assert test['diff'] == pytest.approx(DIFF, abs=1e-12)
  assert test['diff_se'] == pytest.approx(DIFF_SE, abs=1e-12)
  assert (test['positives'], test['negatives']) == (3, 3)
  # The other way round: the same spread, the opposite difference.
  back = judge.delong(LABELS, B, A)
  assert back['diff'] == pytest.approx(-DIFF, abs=1e-12)
  assert back['diff_se'] == pytest.approx(DIFF_SE, abs=1e-12)
  one = judge.auc_with_standard_error(LABELS, A)
  assert one['auc'] == pytest.approx(AUC_A, abs=1e-12)
  assert one['se'] == pytest.approx(SE_A, abs=1e-12)
  with pytest.raises(ValueError, match='two of each class'):
    judge.delong([1, 0, 0], [0.5, 0.4, 0.3], [0.5, 0.4, 0.3])


def test_decide_on_the_worked_example():
  """Every number of the judgement, from the hand-worked constants."""
  found = judge.decide(LABELS, A, B, 0.5, 0.05, 0.0)
  assert found['candidate_auc'] == pytest.approx(AUC_A, abs=1e-12)
  low = AUC_A - 1.96 * HM_SE_A  # 0.5884; the high end clips at 1
  assert found['candidate_auc_ci95'] == pytest.approx([low, 1.0], abs=1e-9)
  assert found['gate_passed'] is True  # 0.588 >= 0.5
  assert found['baseline_auc'] == pytest.approx(AUC_B, abs=1e-12)
  assert found['diff'] == pytest.approx(DIFF, abs=1e-12)
  assert found['diff_se'] == pytest.approx(DIFF_SE, abs=1e-12)
  assert found['diff_ci95'] == pytest.approx(
      [DIFF - Z_TWO_SIDED_95 * DIFF_SE, DIFF + Z_TWO_SIDED_95 * DIFF_SE],
      abs=1e-6)
  assert found['diff_upper_bound'] == pytest.approx(
      DIFF + Z_ONE_SIDED_05 * DIFF_SE, abs=1e-6)
  # p_value_worse = Phi(diff / SE) = Phi(sqrt(5)/2 = 1.118) = 0.8682 (table).
  assert found['p_value_worse'] == pytest.approx(0.8682, abs=1e-4)
  assert found['significantly_worse'] is False and found['blessed'] is True
  # The baseline as the candidate: worse by 5/18, but its upper bound
  # -5/18 + 1.645 * 0.2485 = +0.131 is above 0: not significantly.
  swapped = judge.decide(LABELS, B, A, 0.0, 0.05, 0.0)
  assert swapped['diff_upper_bound'] == pytest.approx(
      -DIFF + Z_ONE_SIDED_05 * DIFF_SE, abs=1e-6)
  assert swapped['significantly_worse'] is False
  # At significance 0.3 (z = 0.5244) the bound -0.2778 + 0.5244 * 0.2485
  # = -0.148 is below 0: held back.
  loose = judge.decide(LABELS, B, A, 0.0, 0.3, 0.0)
  assert loose['diff_upper_bound'] == pytest.approx(
      -DIFF + 0.5244005 * DIFF_SE, abs=1e-6)
  assert loose['significantly_worse'] is True and loose['blessed'] is False


def test_a_model_equal_to_its_baseline_is_pushed():
  """The issue's case: a new span from the same distribution, a few hundred
  eval rows, an AUC a few hundredths below the baseline by chance."""
  rng = np.random.default_rng(1)
  labels = (rng.random(777) < 0.2).astype(int)
  signal = _scores(rng, labels, 1.1)
  baseline = signal + rng.normal(scale=0.6, size=len(labels))
  candidate = signal + rng.normal(scale=0.6, size=len(labels))
  found = judge.decide(labels, candidate, baseline, 0.65, 0.05, 0.0)
  assert found['gate_passed'] and not found['significantly_worse']
  assert found['blessed'] is True
  import json  # pylint: disable=g-import-not-at-top
  assert json.loads(json.dumps(found)) == found  # what judgement.json holds
  low, high = found['diff_ci95']
  assert low < found['diff'] < high and low < 0 < high
  assert 'not significantly worse' in found['reason']


def test_a_clearly_worse_model_is_held_back():
  rng = np.random.default_rng(2)
  labels = (rng.random(800) < 0.2).astype(int)
  baseline = _scores(rng, labels, 1.5)
  candidate = _scores(rng, labels, 0.6)  # still above the gate alone
  found = judge.decide(labels, candidate, baseline, 0.6, 0.05, 0.0)
  assert found['candidate_auc'] > 0.6
  assert found['significantly_worse'] and found['blessed'] is False
  assert found['diff_upper_bound'] < 0
  assert 'significantly worse' in found['reason']


def test_the_gate_is_on_the_intervals_lower_bound():
  """41 eval rows with an AUC of about 0.74: the point clears 0.65, the
  interval does not (the issue's real-rows case)."""
  rng = np.random.default_rng(4)
  labels = np.array([1] * 9 + [0] * 32)
  scores = _scores(rng, labels, 0.9)
  found = judge.decide(labels, scores, None, 0.65, 0.05, 0.0)
  auc = roc_auc_score(labels, scores)
  low = _hanley_mcneil_low(auc, 9, 32)
  assert auc > 0.65 > low  # this sample: the point clears, the bound not
  assert found['candidate_auc'] == pytest.approx(auc)
  assert found['candidate_auc_ci95'][0] == pytest.approx(low)
  assert found['blessed'] is False and not found['gate_passed']
  assert 'no baseline' in found['reason']
  one_class = judge.decide(np.ones(10, int), np.ones(10), None, 0.65, 0.05,
                           0.0)
  assert one_class['blessed'] is False and 'fewer than two' in \
      one_class['reason']


def _softmax_scores(rng, labels, strength, classes=3):
  """Per-class probabilities that favour the true class by `strength`."""
  logits = rng.normal(size=(len(labels), classes))
  logits[np.arange(len(labels)), labels] += strength
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def test_multiclass_point_is_sklearns_macro_auc_and_the_interval_holds_it():
  rng = np.random.default_rng(5)
  labels = rng.integers(0, 3, 300)
  scores = _softmax_scores(rng, labels, 1.0)
  found = judge.decide_multiclass(labels, scores, None, 0.6, 0.05, 0.0,
                                  classes=['a', 'b', 'c'])
  expected = roc_auc_score(labels, scores, multi_class='ovr',
                           average='macro')
  assert found['candidate_auc'] == pytest.approx(expected, abs=1e-12)
  for k, name in enumerate('abc'):
    assert found['per_class_auc'][name] == pytest.approx(
        roc_auc_score(labels == k, scores[:, k]), abs=1e-12)
  low, high = found['candidate_auc_ci95']
  assert low < expected < high
  # The bootstrap's spread is the AUC's sampling noise: on 300 rows about
  # +-0.03-0.05 (a normal interval from the per-class Hanley-McNeil SEs,
  # averaged, is of that size), not zero and not the whole range.
  assert 0.02 < high - low < 0.2
  assert found['gate_passed'] and found['blessed']
  again = judge.decide_multiclass(labels, scores, None, 0.6, 0.05, 0.0,
                                  classes=['a', 'b', 'c'])
  assert again['candidate_auc_ci95'] == found['candidate_auc_ci95']


def test_multiclass_against_baseline_paired_bootstrap():
  rng = np.random.default_rng(6)
  labels = rng.integers(0, 3, 400)
  strong = _softmax_scores(rng, labels, 2.0)
  weak = _softmax_scores(rng, labels, 0.7)
  worse = judge.decide_multiclass(labels, weak, strong, 0.55, 0.05, 0.0)
  assert worse['significantly_worse'] and worse['blessed'] is False
  assert worse['diff'] == pytest.approx(
      roc_auc_score(labels, weak, multi_class='ovr') -
      roc_auc_score(labels, strong, multi_class='ovr'), abs=1e-12)
  assert worse['diff_upper_bound'] < 0
  same = judge.decide_multiclass(labels, strong, strong, 0.55, 0.05, 0.0)
  assert same['diff'] == 0.0 and same['diff_upper_bound'] == 0.0
  assert not same['significantly_worse'] and same['blessed'] is True
  better = judge.decide_multiclass(labels, strong, weak, 0.55, 0.05, 0.0)
  assert better['diff_ci95'][0] > 0 and better['blessed'] is True


def test_multiclass_needs_two_rows_of_every_class():
  labels = np.array([0, 0, 0, 1, 1, 1, 2])
  found = judge.decide_multiclass(labels, np.full((7, 3), 1 / 3), None,
                                  0.6, 0.05, 0.0, classes=['x', 'y', 'z'])
  assert found['blessed'] is False
  assert 'fewer than two' in found['reason']
  assert found['class_rows'] == {'x': 3, 'y': 3, 'z': 1}
