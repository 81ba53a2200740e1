"""Error rates per group at a decision threshold, with intervals and gaps.

AUC per slice says how well the model ranks inside a group; it does not
say who bears the errors once a threshold turns scores into decisions. At
the threshold, per slice: the false positive rate (negatives flagged), the
false negative rate (positives missed) and the positive rate (flagged),
each with its Wilson 95% interval; per slicing feature and rate, the
largest gap between two of its slices (the highest rate less the lowest)
with Newcombe's 95% interval for a difference of proportions, flagged when
that interval leaves out 0. Reported, not gated.

The threshold: a setting (pipeline/config.py decision_threshold); by
default the score above which the eval split's share of positives is
flagged (at 0.5, with a 20% base rate, almost nothing is). Multi-class:
the predicted class is the argmax, and each class is one vs rest.

Only numpy at import.
"""

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

Z95 = 1.959963984540054
MIN_ROWS = 30   # a slice's rows (of a rate's denominator) to be compared
RATES = ('false_positive_rate', 'false_negative_rate', 'positive_rate')


def wilson(successes: int, trials: int,
           z: float = Z95) -> Tuple[float, float]:
  """The Wilson score interval of a proportion ((nan, nan) for 0 trials)."""
  if trials <= 0:
    return float('nan'), float('nan')
  p = successes / trials
  denominator = 1 + z * z / trials
  centre = (p + z * z / (2 * trials)) / denominator
  half = z * math.sqrt(p * (1 - p) / trials
                       + z * z / (4 * trials * trials)) / denominator
  # Exact at the ends (rounding leaves 1e-17 where 0 of n were seen).
  return (0.0 if successes == 0 else max(0.0, centre - half),
          1.0 if successes == trials else min(1.0, centre + half))


def newcombe(first: Tuple[int, int], second: Tuple[int, int],
             z: float = Z95) -> Tuple[float, float, float]:
  """(p1 - p2, low, high): Newcombe's hybrid score interval (his method
  10) from two (successes, trials), built on their Wilson intervals."""
  (s1, n1), (s2, n2) = first, second
  p1, p2 = s1 / n1, s2 / n2
  l1, u1 = wilson(s1, n1, z)
  l2, u2 = wilson(s2, n2, z)
  diff = p1 - p2
  return (diff, diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
          diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def default_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
  """The score above which the share of rows flagged is the share of
  positives (binary)."""
  scores = np.asarray(scores, dtype=np.float64)
  rate = float(np.mean(np.asarray(labels) == 1))
  return float(np.quantile(scores, 1.0 - rate)) if len(scores) else 0.5


def counts(flagged: np.ndarray, positive: np.ndarray) -> Dict[str, Tuple]:
  """(successes, trials) of each rate."""
  flagged, positive = np.asarray(flagged, bool), np.asarray(positive, bool)
  return {'false_positive_rate': (int((flagged & ~positive).sum()),
                                  int((~positive).sum())),
          'false_negative_rate': (int((~flagged & positive).sum()),
                                  int(positive.sum())),
          'positive_rate': (int(flagged.sum()), int(len(flagged)))}


def _rates(found: Dict[str, Tuple]) -> Dict[str, Any]:
  out = {}
  for name, (hits, trials) in found.items():
    low, high = wilson(hits, trials)
    out[name] = {'value': hits / trials if trials else None,
                 'ci95': [low, high] if trials else None,
                 'count': hits, 'of': trials}
  return out


def _gaps(per_value: Dict[str, Dict[str, Tuple]]) -> List[Dict[str, Any]]:
  """Per rate, the highest slice less the lowest, among slices with
  MIN_ROWS rows of the rate's denominator."""
  found = []
  for rate in RATES:
    usable = {name: c[rate] for name, c in per_value.items()
              if c[rate][1] >= MIN_ROWS}
    if len(usable) < 2:
      continue
    high = max(usable, key=lambda n: usable[n][0] / usable[n][1])
    low = min(usable, key=lambda n: usable[n][0] / usable[n][1])
    diff, lower, upper = newcombe(usable[high], usable[low])
    found.append({'rate': rate, 'highest': high, 'lowest': low,
                  'gap': diff, 'ci95': [lower, upper],
                  'flagged': bool(lower > 0)})
  return sorted(found, key=lambda g: -g['ci95'][0])


def _one_vs_rest(flagged, positive, slices, min_rows) -> Dict[str, Any]:
  out = {'overall': _rates(counts(flagged, positive)), 'slices': {},
         'gaps': {}}
  for feature, values in slices.items():
    values = np.asarray(values)
    per_value = {}
    for name in np.unique(values):
      rows = values == name
      if rows.sum() >= min_rows:
        per_value[str(name)] = counts(flagged[rows], positive[rows])
    out['slices'][feature] = {name: _rates(c) for name, c in
                              per_value.items()}
    out['gaps'][feature] = _gaps(per_value)
  return out


def fairness(scores: np.ndarray, labels: np.ndarray,
             slices: Mapping[str, np.ndarray],
             threshold: Optional[float] = None,
             classes: Sequence[str] = (),
             min_rows: int = MIN_ROWS) -> Dict[str, Any]:
  """The rates overall and per slice, and the largest gaps.

  Args:
    scores: [N] P(positive), or [N, C] class probabilities.
    labels: [N] class indices (binary: 1 positive).
    slices: slicing feature -> each row's value.
    threshold: binary: flag at scores >= threshold; None: default_threshold.
    classes: a multi-class label's names (argmax; one vs rest per class).
    min_rows: a slice's rows to be reported.
  """
  scores = np.asarray(scores, dtype=np.float64)
  labels = np.asarray(labels, dtype=int)
  if scores.ndim == 2:
    predicted = scores.argmax(axis=1)
    names = list(classes) or [str(k) for k in range(scores.shape[1])]
    return {'decision': 'argmax', 'threshold': None, 'min_rows': min_rows,
            'per_class': {name: _one_vs_rest(predicted == k, labels == k,
                                             slices, min_rows)
                          for k, name in enumerate(names)}}
  source = 'setting'
  if threshold is None:
    threshold, source = default_threshold(scores, labels), (
        "the default, where the eval split's share of positives is "
        'flagged')
  out = _one_vs_rest(scores >= threshold, labels == 1, slices, min_rows)
  out.update(decision='score >= threshold', threshold=float(threshold),
             threshold_source=source, min_rows=min_rows)
  return out


def flagged_gaps(found: Dict[str, Any]) -> List[Dict[str, Any]]:
  """Every flagged gap, with its slicing feature (and class)."""
  parts = ([(name, part) for name, part in found['per_class'].items()]
           if 'per_class' in found else [(None, found)])
  out = []
  for name, part in parts:
    for feature, gaps in part['gaps'].items():
      out += [dict(g, feature=feature, **({'class': name} if name else {}))
              for g in gaps if g['flagged']]
  return sorted(out, key=lambda g: -g['ci95'][0])
