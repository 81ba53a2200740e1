"""Monitoring by kind: what a dataset spec's columns are compared by.

Every column of a dataset spec (the CFPB complaints' as any other) is
judged by its kind:

- numeric: the Jensen-Shannon divergence of its values on bins taken from
  the reference side (training for skew, the previous window for drift):
  the reference's quantiles (as many bins as the spec's `buckets`, 10 by
  default), plus one bin of its own for a missing value. A column that
  starts arriving empty is a shift of that column, and the one JS says so
  without a second check; the noise bound counts that bin too.
- categorical: TFDV's L-infinity distance of the value shares, as today
  (skew.categorical_skew), where the statistics have value shares; a
  categorical that the statistics hold as numbers (an integer column such
  as the taxi's trip_start_hour, which StatisticsGen counts as INT, and for
  which TFDV's comparator reports 0 whatever was served) gets the same
  L-infinity computed here from the training span's values.
- text: its length in tokens (whitespace-separated), as a numeric column
  named `<key>_length`, compared among the texts present: whether a text
  is there at all is a share, not a length, and an optional text column
  (most complaints have no narrative) would dilute a change of wording or
  length below any threshold if its empty rows were a bin of the same
  distribution.
- the prediction: binary models as today (the Evaluator's calibration
  histogram); a multi-class model by the shares of its predicted classes
  (argmax) against the training labels' class shares, one JS over the
  classes with the noise bound for that many bins. One test per model
  rather than one per class's probability histogram: no multiple-testing
  inflation of false alerts, a bound that is exact for counts, and a shift
  that says what a user sees (more of one class answered). Its reference
  is the labels, not the model's own eval predictions (TFMA records no
  multi-class histogram the monitor reads yet): a model whose predicted
  shares differ from the label shares adds that bias to every window's
  distance, which the prediction threshold must leave room for.

Distances are only alerts above both the threshold (per feature from
`Thresholds.per_feature`, else the kind's default) and skew.js_noise /
drift.sampling_noise at the two sides' sizes.
"""

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from pipeline.metadata import drift
from pipeline.monitoring import skew

LENGTH_SUFFIX = '_length'
MISSING_BIN = 'missing'


def length_name(key: str) -> str:
  """A text column's length is reported as its own feature."""
  return key + LENGTH_SUFFIX


def numeric_keys(spec) -> List[str]:
  return [f.key for f in spec.of_kind('numeric')]


def text_keys(spec) -> List[str]:
  return [f.key for f in spec.of_kind('text')]


def categorical_keys(spec) -> List[str]:
  return [f.key for f in spec.of_kind('categorical')]


def compared_names(spec) -> List[str]:
  """Every Jensen-Shannon-compared name: numerics, then text lengths."""
  return numeric_keys(spec) + [length_name(k) for k in text_keys(spec)]


def bins_of(spec, name: str) -> int:
  """The spec's quantile buckets of a numeric; 10 for a text length."""
  for feature in spec.of_kind('numeric'):
    if feature.key == name:
      return max(int(feature.buckets), 1)
  return skew.LENGTH_BINS


def token_lengths(texts: Sequence[Any]) -> np.ndarray:
  """Whitespace tokens per text; NaN for an empty or missing text (the
  missing bin: how often a text is absent is not a length)."""
  lengths = []
  for text in texts:
    words = len(str(text).split()) if text is not None and not (
        isinstance(text, float) and math.isnan(text)) else 0
    lengths.append(float(words) if words else math.nan)
  return np.array(lengths, dtype=float)


def as_numbers(values: Sequence[Any]) -> np.ndarray:
  """Floats, NaN for a missing value ('' or None or NaN or unparsable)."""
  out = []
  for value in values:
    try:
      out.append(float(value) if value not in ('', None) else math.nan)
    except (TypeError, ValueError):
      out.append(math.nan)
  return np.array(out, dtype=float)


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
  """Interior bin edges at the reference's present values' quantiles.

  Repeated quantiles (a value many rows share) collapse into one edge, so a
  point mass is one bin rather than empty ones.
  """
  present = reference[~np.isnan(reference)]
  if not len(present) or bins < 2:
    return np.array([], dtype=float)
  edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
  return edges[1:-1]


def binned(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
  """Counts per bin (below the first edge, ..., above the last), then the
  missing values' count as the last bin."""
  values = np.asarray(values, dtype=float)
  missing = np.isnan(values)
  index = np.searchsorted(edges, values[~missing], side='right')
  counts = np.bincount(index, minlength=len(edges) + 1)
  return np.append(counts, int(missing.sum()))


def value_shift(name: str, reference: np.ndarray, served: np.ndarray,
                bins: int, threshold: float, z: float,
                present_only: bool = False) -> Dict[str, Any]:
  """Jensen-Shannon of a numeric column on the reference side's bins
  (present_only: among the values present, a text length's way)."""
  if present_only:
    reference = np.asarray(reference, dtype=float)
    served = np.asarray(served, dtype=float)
    reference, served = (reference[~np.isnan(reference)],
                         served[~np.isnan(served)])
  edges = quantile_edges(np.asarray(reference, dtype=float), bins)
  a, b = binned(reference, edges), binned(served, edges)
  used = max(int(np.count_nonzero((a + b) > 0)), 1)
  noise = skew.js_noise(used, int(a.sum()), int(b.sum()), z)
  return skew.finding(
      name, 'Jensen-Shannon', skew.js_divergence(a, b), threshold, noise,
      int(a.sum()), int(b.sum()),
      {'bins': [float(e) for e in edges] + [MISSING_BIN],
       'training': a.tolist(), 'served': b.tolist()})


def _values(column, spec) -> Dict[str, np.ndarray]:
  """Numeric values and text lengths by compared name; column(key) is a
  column's values (empty when the data lacks it)."""
  values = {key: as_numbers(column(key)) for key in numeric_keys(spec)}
  for key in text_keys(spec):
    values[length_name(key)] = token_lengths(column(key))
  return values


def row_values(rows: List[Dict[str, Any]], spec) -> Dict[str, np.ndarray]:
  """The served rows' numeric values and text lengths, by compared name."""
  return _values(lambda key: [row.get(key) for row in rows], spec)


def frame_values(frame, spec) -> Dict[str, np.ndarray]:
  """A span frame's (rows.csv, spec keys) numeric values and text lengths."""
  return _values(lambda key: frame[key].tolist() if key in frame else [],
                 spec)


def value_shifts(reference: Dict[str, np.ndarray],
                 served: Dict[str, np.ndarray], spec, default: float,
                 per_feature: Dict[str, float], z: float
                 ) -> List[Dict[str, Any]]:
  """One Jensen-Shannon finding per numeric column and text length."""
  found = []
  lengths = {length_name(key) for key in text_keys(spec)}
  for name in compared_names(spec):
    if name not in reference or name not in served:
      continue
    found.append(value_shift(name, reference[name], served[name],
                             bins_of(spec, name),
                             per_feature.get(name, default), z,
                             present_only=name in lengths))
  return found


def read_span_values(files: Sequence[str], spec) -> Dict[str, Any]:
  """What the monitor compares against, from a version's span files
  (rows.csv in the spec's keys, data/spec_frame.py): numeric values, text
  lengths, categorical values as strings and the label's class counts."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  frames = [pd.read_csv(path, dtype=str, keep_default_na=False)
            for path in files]
  frame = (pd.concat(frames, ignore_index=True) if frames
           else pd.DataFrame())
  categorical = {key: frame[key].astype(str).tolist() for key in
                 categorical_keys(spec) if key in frame}
  counts = None
  if spec.multiclass and spec.label.key in frame:
    indices = as_numbers(frame[spec.label.key].tolist())
    counts = class_counts_of_indices(indices, len(spec.label.classes))
  return {'values': frame_values(frame, spec), 'categorical': categorical,
          'class_counts': counts}


def class_counts_of_indices(indices: np.ndarray, classes: int) -> np.ndarray:
  """Rows per class index 0..classes-1 (others ignored)."""
  indices = indices[~np.isnan(indices)].astype(int)
  indices = indices[(indices >= 0) & (indices < classes)]
  return np.bincount(indices, minlength=classes)


def predicted_classes(predictions: Sequence[Sequence[float]],
                      classes: int) -> np.ndarray:
  """Rows per predicted class (argmax of each row's probabilities)."""
  rows = [p for p in predictions if np.ndim(p) == 1 and len(p) == classes]
  if not rows:
    return np.zeros(classes, dtype=int)
  return np.bincount(np.argmax(np.asarray(rows, dtype=float), axis=1),
                     minlength=classes)


def class_shift(reference_counts: np.ndarray,
                predictions: Sequence[Sequence[float]], class_names,
                threshold: float, z: float) -> Optional[Dict[str, Any]]:
  """Predicted-class shares against the reference's, one JS over classes."""
  if reference_counts is None or not len(predictions):
    return None
  served = predicted_classes(predictions, len(class_names))
  a = np.asarray(reference_counts, dtype=int)
  return skew.finding(
      skew.PREDICTED_CLASS, 'Jensen-Shannon', skew.js_divergence(a, served),
      threshold, skew.js_noise(len(a), int(a.sum()), int(served.sum()), z),
      int(a.sum()), int(served.sum()),
      {'bins': list(class_names), 'training': a.tolist(),
       'served': served.tolist()})


def has_value_shares(dataset, name: str) -> bool:
  """Whether statistics hold a feature's value shares (string statistics).

  An integer categorical (StatisticsGen's INT) has numeric statistics only,
  and TFDV's L-infinity comparator then reports a distance of 0 for it
  whatever the served values: such a finding is no measurement.
  """
  from pipeline.metadata import statistics  # pylint: disable=g-import-not-at-top
  return any(statistics.feature_name(f) == name and f.HasField('string_stats')
             for f in dataset.features)


def is_integer_column(values: Sequence[str]) -> bool:
  """Whether every non-empty value is an integer, as CsvExampleGen's
  type inference decides INT for a column."""
  present = [v for v in values if v not in ('', None)]
  if not present:
    return False
  try:
    return all(float(v) == int(v) for v in present)
  except (TypeError, ValueError):
    return False


def shares(values: Sequence[str]) -> Dict[str, float]:
  """Each present value's share of the present values."""
  present = [str(v) for v in values if v not in ('', None)]
  if not present:
    return {}
  unique, counts = np.unique(present, return_counts=True)
  return {u: c / len(present) for u, c in zip(unique.tolist(),
                                               counts.tolist())}


def linf_shift(name: str, reference: Sequence[str], served: Sequence[str],
               threshold: float, z: float) -> Dict[str, Any]:
  """L-infinity of the value shares, computed here (for a categorical the
  statistics hold as numbers, where TFDV computes none)."""
  a, b = shares(reference), shares(served)
  values = sorted(set(a) | set(b), key=lambda v: -max(a.get(v, 0),
                                                      b.get(v, 0)))
  distance = max((abs(a.get(v, 0.0) - b.get(v, 0.0)) for v in values),
                 default=0.0)
  count_a = sum(1 for v in reference if v not in ('', None))
  count_b = sum(1 for v in served if v not in ('', None))
  return skew.finding(
      name, 'L-infinity', distance, threshold,
      drift.sampling_noise(count_a, count_b, z), count_a, count_b,
      {'values': values[:8], 'training': [a.get(v, 0.0) for v in values[:8]],
       'served': [b.get(v, 0.0) for v in values[:8]]})
