"""Small numpy metrics used to judge generated data (no sklearn needed).

`best_achievable_auc` is the ROC AUC of the generator's true probabilities
against the labels drawn from them: no model trained on the same features can
beat it except by chance, so it is the ceiling to compare a model's AUC with.
"""

from typing import Iterable, Mapping, Tuple

import numpy as np


def average_ranks(values: Iterable[float]) -> np.ndarray:
  """1-based ranks of `values`, ties sharing the average of their ranks."""
  values = np.asarray(values, dtype=np.float64)
  order = np.argsort(values, kind='mergesort')
  sorted_values = values[order]
  # Start index of each run of equal values, and the run each item belongs to.
  starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
  ends = np.r_[starts[1:], len(values)]
  run_of_item = np.repeat(np.arange(len(starts)), ends - starts)
  mean_rank = (starts + 1 + ends) / 2.0  # Mean of ranks starts+1 .. ends.
  ranks = np.empty(len(values))
  ranks[order] = mean_rank[run_of_item]
  return ranks


def roc_auc(scores: Iterable[float], labels: Iterable[int]) -> float:
  """ROC AUC (Mann-Whitney U), ties counted as half.

  Args:
    scores: Higher means more likely positive.
    labels: 1 (or True) for positives, 0 for negatives.

  Returns:
    The probability that a random positive scores above a random negative.

  Raises:
    ValueError: Lengths differ or only one class is present.
  """
  scores = np.asarray(scores, dtype=np.float64)
  labels = np.asarray(labels).astype(bool)
  if scores.shape != labels.shape:
    raise ValueError('scores and labels differ in shape: %s vs %s' %
                     (scores.shape, labels.shape))
  positives = int(labels.sum())
  negatives = len(labels) - positives
  if not positives or not negatives:
    raise ValueError('ROC AUC needs both classes; got %d positives and %d '
                     'negatives.' % (positives, negatives))
  rank_sum = average_ranks(scores)[labels].sum()
  return float(
      (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def best_achievable_auc(true_prob: Iterable[float],
                        labels: Iterable[int]) -> float:
  """ROC AUC of the true probabilities against the labels drawn from them."""
  return roc_auc(true_prob, labels)


def total_variation_distance(a: Mapping[str, float],
                             b: Mapping[str, float]) -> float:
  """Total variation distance between two categorical distributions.

  Args:
    a: Category -> count or probability (normalized here).
    b: Same for the other distribution; missing categories count as 0.

  Returns:
    Half the L1 distance of the normalized distributions, in [0, 1].
  """
  keys = sorted(set(a) | set(b))
  pa = np.array([a.get(k, 0.0) for k in keys], dtype=np.float64)
  pb = np.array([b.get(k, 0.0) for k in keys], dtype=np.float64)
  if pa.sum() <= 0 or pb.sum() <= 0:
    raise ValueError('Both distributions need a positive total.')
  return float(0.5 * np.abs(pa / pa.sum() - pb / pb.sum()).sum())


def auc_confidence_interval(auc: float, positives: int, negatives: int,
                            z: float = 1.96) -> Tuple[float, float]:
  """Hanley & McNeil (1982) normal-approximation interval for a ROC AUC.

  Needs only the AUC and the class counts, which TFMA reports per slice, so
  every slice's AUC can carry its uncertainty without the predictions: on a
  few hundred eval rows the AUC moves by several hundredths.

  Args:
    auc: The measured AUC.
    positives: Positive examples it was measured on.
    negatives: Negative examples.
    z: Standard normal quantile (1.96 for 95%).

  Returns:
    (low, high), clipped to [0, 1].

  Raises:
    ValueError: A class is empty (the AUC is undefined).
  """
  if positives < 1 or negatives < 1:
    raise ValueError('AUC needs both classes; got %d positives and %d '
                     'negatives.' % (positives, negatives))
  q1 = auc / (2.0 - auc)
  q2 = 2.0 * auc * auc / (1.0 + auc)
  variance = (auc * (1.0 - auc) + (positives - 1) * (q1 - auc * auc) +
              (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
  half = z * float(np.sqrt(max(variance, 0.0)))
  return max(0.0, auc - half), min(1.0, auc + half)
