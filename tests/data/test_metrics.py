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
