"""Tests of the numpy metrics against hand-computed values."""

import numpy as np
import pytest

from data import metrics


def test_average_ranks_share_ties():
  assert metrics.average_ranks([0.3, 0.1, 0.3, 0.2]).tolist() == [
      3.5, 1.0, 3.5, 2.0]


def test_roc_auc_hand_computed():
  # Pairs (positive, negative): (.8,.1) win, (.8,.4) win, (.4,.1) win,
  # (.4,.4) tie -> (3 + 0.5) / 4.
  assert metrics.roc_auc([0.8, 0.4, 0.1, 0.4], [1, 1, 0, 0]) == 0.875
  assert metrics.roc_auc([0.1, 0.2, 0.3], [1, 0, 0]) == 0.0
  assert metrics.roc_auc([0.5, 0.5, 0.5], [1, 0, 1]) == 0.5


def test_roc_auc_matches_pairwise_count():
  rng = np.random.default_rng(0)
  scores = np.round(rng.random(300), 1)  # Many ties.
  labels = rng.random(300) < 0.3
  pos, neg = scores[labels], scores[~labels]
  wins = (pos[:, None] > neg[None, :]).sum()
  ties = (pos[:, None] == neg[None, :]).sum()
  pairwise = (wins + 0.5 * ties) / (len(pos) * len(neg))
  assert metrics.best_achievable_auc(scores, labels) == pytest.approx(pairwise)


def test_roc_auc_needs_both_classes():
  with pytest.raises(ValueError, match='both classes'):
    metrics.roc_auc([0.1, 0.2], [1, 1])


def test_total_variation_distance():
  assert metrics.total_variation_distance({'a': 1, 'b': 1},
                                          {'a': 2, 'b': 2}) == 0
  assert metrics.total_variation_distance({'a': 3, 'b': 1}, {'b': 5}) == 0.75
  assert metrics.total_variation_distance({'a': 1}, {'c': 1}) == 1.0


def test_auc_confidence_interval_matches_hanley_mcneil_table():
  # By hand: A=0.8, Q1=A/(2-A)=2/3, Q2=2A^2/(1+A)=0.7111; with 50 and 50
  # cases SE^2 = (0.16 + 49*(2/3-0.64) + 49*(0.7111-0.64)) / 2500 = 0.0019804.
  low, high = metrics.auc_confidence_interval(0.8, 50, 50, z=1.0)
  assert (high - low) / 2 == pytest.approx(0.0019804 ** 0.5, abs=1e-5)


def test_auc_confidence_interval_shrinks_with_more_data_and_is_clipped():
  small = metrics.auc_confidence_interval(0.7, 20, 80)
  large = metrics.auc_confidence_interval(0.7, 2000, 8000)
  assert small[0] < large[0] < 0.7 < large[1] < small[1]
  assert metrics.auc_confidence_interval(0.99, 3, 3)[1] == 1.0


def test_auc_confidence_interval_needs_both_classes():
  with pytest.raises(ValueError, match='both classes'):
    metrics.auc_confidence_interval(0.7, 0, 10)


# Independent implementations: scipy's ranks, scikit-learn's ROC AUC, and a
# simulation where Hanley and McNeil's variance is exact.


def test_average_ranks_match_scipy_rankdata():
  from scipy import stats  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  for values in (rng.integers(0, 5, 200), rng.random(50), [2.0], [1, 1, 1]):
    assert metrics.average_ranks(values) == pytest.approx(
        stats.rankdata(values, method='average'))


def test_roc_auc_matches_scikit_learn():
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(5)
  for size, share in ((40, 0.5), (500, 0.1), (3000, 0.25)):
    labels = (rng.random(size) < share).astype(int)
    continuous = rng.normal(size=size) + labels
    tied = np.round(continuous, 0)  # a handful of distinct scores
    for scores in (continuous, tied):
      assert metrics.roc_auc(scores, labels) == pytest.approx(
          roc_auc_score(labels, scores), abs=1e-12)


def test_auc_confidence_interval_matches_a_simulation():
  """Negatives' scores Exp(1), positives' Exp with mean A/(1-A): then
  P(positive > negative) = A, and Hanley and McNeil's Q1 = A/(2-A) and
  Q2 = 2A^2/(1+A) are exact (their paper's derivation), so the interval's
  standard error must be the spread of AUCs over repeated samples. Unequal
  class sizes tell apart which class goes with which Q."""
  auc, positives, negatives, reps = 0.8, 20, 40, 4000
  rng = np.random.default_rng(11)
  pos = rng.exponential(auc / (1 - auc), size=(reps, positives))
  neg = rng.exponential(1.0, size=(reps, negatives))
  aucs = (pos[:, :, None] > neg[:, None, :]).mean(axis=(1, 2))
  assert aucs.mean() == pytest.approx(auc, abs=0.005)
  low, high = metrics.auc_confidence_interval(auc, positives, negatives,
                                              z=1.0)
  # By hand: SE^2 = (0.16 + 19 * (2/3 - 0.64) + 39 * (0.7111 - 0.64)) / 800
  # = 0.0043, SE = 0.0656 (with the classes swapped it would be 0.0565).
  assert (high - low) / 2 == pytest.approx(0.0656, abs=5e-4)
  assert (high - low) / 2 == pytest.approx(aucs.std(ddof=1), rel=0.05)
