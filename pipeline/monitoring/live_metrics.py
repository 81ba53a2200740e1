"""A served model's performance on its labelled traffic, by task.

The metric is the one the judge blesses on, so a live figure and the eval
figure of the same version can be read side by side:
- binary: the AUC with DeLong's standard error and Hanley-McNeil's 95%
  interval (as the judge's gate), the positives' share and calibration
  (mean predicted probability over the observed share);
- multi-class: the macro one-vs-rest AUC with a seeded bootstrap's standard
  error and 95% interval (no closed form covers a macro AUC: the judge uses
  the same bootstrap), accuracy of the argmax, and per class the rows, the
  observed share and the mean predicted probability.
Used by `pipeline feedback` (each version's traffic) and by the A/B verdict
(pipeline/monitoring/ab_test.py), which compares two such figures.
"""

from typing import Any, Dict, Optional, Sequence

import numpy as np

from components import judge
from data import metrics as data_metrics
from pipeline.monitoring import by_kind


def is_multiclass(predictions: Sequence[Any]) -> bool:
  """Whether predictions are per-class probability rows (a list per row)."""
  return bool(len(predictions)) and isinstance(predictions[0],
                                               (list, tuple, np.ndarray))


def class_counts(labels: Sequence[int], classes: int) -> np.ndarray:
  """Rows per class index (by_kind's count, for integer labels)."""
  return by_kind.class_counts_of_indices(np.asarray(labels, dtype=float),
                                         classes)


def binary(labels: Sequence[int], predictions: Sequence[float]
           ) -> Dict[str, Any]:
  """AUC (with its error and interval), the positives, calibration."""
  labels_arr = np.asarray(labels, dtype=int)
  positives = int(labels_arr.sum())
  out: Dict[str, Any] = {
      'metric': 'AUC', 'examples': len(labels_arr), 'positives': positives,
      'mean_label': float(labels_arr.mean()) if len(labels_arr) else None,
      'mean_prediction': (float(np.mean(predictions)) if len(labels_arr)
                          else None)}
  if out['mean_label']:
    out['calibration'] = out['mean_prediction'] / out['mean_label']
  try:
    found = judge.auc_with_standard_error(labels_arr, predictions)
  except ValueError:   # fewer than two rows of a class: no AUC
    return out
  out.update(auc=found['auc'], auc_se=found['se'])
  out['auc_ci95'] = list(data_metrics.auc_confidence_interval(
      found['auc'], found['positives'], found['negatives']))
  return out


def multiclass(labels: Sequence[int], probabilities: Sequence[Sequence[float]],
               classes: Sequence[str] = (),
               resamples: int = judge.BOOTSTRAP_RESAMPLES,
               seed: int = judge.BOOTSTRAP_SEED) -> Dict[str, Any]:
  """Macro one-vs-rest AUC (bootstrap error and interval), accuracy, and
  per class: rows, observed share, mean predicted probability."""
  labels_arr = np.asarray(labels, dtype=int)
  probs = np.asarray(probabilities, dtype=float).reshape(len(labels_arr), -1)
  names = list(classes) or [str(k) for k in range(probs.shape[1])]
  counts = class_counts(labels_arr, probs.shape[1])
  out: Dict[str, Any] = {
      'metric': 'macro AUC', 'examples': len(labels_arr),
      'class_rows': {names[k]: int(c) for k, c in enumerate(counts)}}
  if not len(labels_arr):
    return out
  out['accuracy'] = float(np.mean(probs.argmax(axis=1) == labels_arr))
  out['per_class'] = {
      names[k]: {'share': float(counts[k] / len(labels_arr)),
                 'mean_prediction': float(probs[:, k].mean())}
      for k in range(probs.shape[1])}
  if (counts > 0).sum() < 2:   # a macro AUC needs two classes with rows
    return out
  auc = judge.macro_auc(labels_arr, probs)
  resampled = judge.resampled_macro_aucs(
      labels_arr, probs, judge.bootstrap_rows(len(labels_arr), resamples,
                                              seed))
  low, high = (float(q) for q in np.nanquantile(resampled, [0.025, 0.975]))
  out.update(auc=auc, auc_se=float(np.nanstd(resampled, ddof=1)),
             auc_ci95=[low, high], resampled=resampled)
  return out


def performance(labels: Sequence[int], predictions: Sequence[Any],
                classes: Sequence[str] = ()) -> Dict[str, Any]:
  """binary() or multiclass(), by the predictions' shape; without the
  bootstrap's resampled values (which the A/B verdict alone needs)."""
  if is_multiclass(predictions):
    out = multiclass(labels, predictions, classes)
    out.pop('resampled', None)
    return out
  return binary(labels, predictions)


def smallest_class(labels: Sequence[int], predictions: Sequence[Any]
                   ) -> Optional[int]:
  """Rows of the rarest class (multi-class: of the classes the model has)."""
  if not len(labels):
    return 0
  if is_multiclass(predictions):
    return int(class_counts(labels, len(predictions[0])).min())
  positives = int(np.sum(labels))
  return min(positives, len(labels) - positives)
