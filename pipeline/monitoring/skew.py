"""Served traffic against what the served model was trained on.

Distances are TFDV's where TFDV has them (the L-infinity distance of the
value shares of a categorical, computed by `tfdv.validate_statistics` with
the training statistics and `serving_statistics`), and the Jensen-Shannon
divergence of histograms for numeric values (a numeric column, a text
column's length in words, the predicted probability), on fixed bins taken
from the training side (pipeline/monitoring/by_kind.py for the columns).

Thresholds allow for sampling noise: a feature alerts when its distance is
above both its configured threshold and what two samples of one population
exceed only with the normal tail probability of `noise_z` at these sizes
(`noise_z` standard errors of a share for L-infinity, the matching
chi-square quantile for Jensen-Shannon), so a window of 1,000 clean
requests stays quiet while a real shift of a few tens of percent alerts.
"""

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from pipeline.metadata import drift

PREDICTED = 'predicted_probability'
PREDICTED_CLASS = 'predicted_class'   # multi-class: the argmax's shares
SERVING = 'SERVING'
LENGTH_BINS = 10


def js_noise(bins: int, count_a: int, count_b: int, z: float) -> float:
  """The Jensen-Shannon divergence (base 2) two samples of one population
  exceed only with the one-sided normal tail probability of z.

  For two samples of sizes n_a and n_b from one distribution over k bins,
  8 ln 2 n JS (1/n = 1/n_a + 1/n_b) is approximately chi-square with k - 1
  degrees of freedom; its upper quantile at that tail bounds JS.
  """
  from scipy import stats  # pylint: disable=g-import-not-at-top
  if count_a < 1 or count_b < 1:
    return 1.0
  effective = 1.0 / (1.0 / count_a + 1.0 / count_b)
  tail = stats.norm.sf(z)
  return float(stats.chi2.isf(tail, max(bins - 1, 1)) /
               (8 * math.log(2) * effective))


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
  """Jensen-Shannon divergence, base 2 (0 = same, 1 = disjoint)."""
  p = np.asarray(p, dtype=float)
  q = np.asarray(q, dtype=float)
  p, q = p / max(p.sum(), 1e-12), q / max(q.sum(), 1e-12)
  m = (p + q) / 2

  def kl(a, b):
    mask = a > 0
    return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
  return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def _finding(name, measure, distance, threshold, noise, count_a, count_b,
             detail=None) -> Dict[str, Any]:
  applied = max(threshold, noise)
  found = {'feature': name, 'measure': measure, 'distance': distance,
           'threshold': threshold, 'sampling_noise': noise,
           'applied_threshold': applied, 'alert': distance > applied,
           'values_training': count_a, 'values_served': count_b}
  if detail:
    found['distribution'] = detail
  return found


finding = _finding  # the one shape of a finding, for by_kind


def serving_schema(schema, thresholds: Dict[str, float],
                   training_only: Sequence[str]):
  """A copy of the schema for serving: the label absent, skew comparators on.

  The label and the join key are only in the TRAINING environment: served
  requests carry no label, and the join key is not a model input.
  training_only names them (the dataset spec's label and join key).
  """
  schema = type(schema).FromString(schema.SerializeToString())
  del schema.default_environment[:]
  schema.default_environment.extend(['TRAINING', SERVING])
  for feature in schema.feature:
    if feature.name in training_only:
      feature.not_in_environment.append(SERVING)
    if feature.name in thresholds:
      feature.skew_comparator.infinity_norm.threshold = thresholds[
          feature.name]
  return schema


def categorical_skew(training_stats, served_stats, schema,
                     thresholds: Dict[str, float], z: float,
                     training_only: Sequence[str]
                     ) -> (List[Dict[str, Any]], Dict[str, List[str]]):
  """L-infinity skew per categorical feature, and the serving anomalies.

  Returns:
    (findings, anomalies): one finding per compared feature, largest
    distance first; anomalies as {feature: [description]} of the served
    data against the schema in the SERVING environment.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from pipeline.metadata import statistics  # pylint: disable=g-import-not-at-top
  schema = serving_schema(schema, thresholds, training_only)
  # Skew: TFDV validates the training statistics with the served ones as
  # `serving_statistics`; the served data's own anomalies are a second
  # validation, of the served statistics in the SERVING environment.
  skewed = tfdv.validate_statistics(
      statistics.stats_list(training_stats), schema, environment='TRAINING',
      serving_statistics=statistics.stats_list(served_stats))
  without_comparators = type(schema).FromString(schema.SerializeToString())
  for feature in without_comparators.feature:
    feature.ClearField('skew_comparator')
  anomalies = tfdv.validate_statistics(
      statistics.stats_list(served_stats), without_comparators,
      environment=SERVING)
  counts_a = drift.value_counts(training_stats)
  counts_b = drift.value_counts(served_stats)
  findings = []
  for info in skewed.drift_skew_info:
    name = '.'.join(info.path.step)
    for measurement in info.skew_measurements:
      findings.append(_finding(
          name, 'L-infinity', measurement.value, thresholds[name],
          drift.sampling_noise(counts_a.get(name, 0), counts_b.get(name, 0),
                               z),
          counts_a.get(name, 0), counts_b.get(name, 0),
          _top_shares(training_stats, served_stats, name)))
  found = {}
  for name, info in anomalies.anomaly_info.items():
    reasons = [r.description or r.short_description for r in info.reason]
    if reasons:
      found[name] = reasons
  return (sorted(findings, key=lambda f: (-f['distance'], f['feature'])),
          found)


def _shares(dataset, name: str) -> Dict[str, float]:
  from pipeline.metadata import statistics  # pylint: disable=g-import-not-at-top
  for feature in dataset.features:
    if statistics.feature_name(feature) == name and feature.HasField(
        'string_stats'):
      total = max(feature.string_stats.common_stats.tot_num_values, 1)
      buckets = feature.string_stats.rank_histogram.buckets
      if buckets:
        return {b.label: b.sample_count / total for b in buckets}
      return {v.value: v.frequency / total
              for v in feature.string_stats.top_values}
  return {}


def _top_shares(training_stats, served_stats, name: str,
                top: int = 8) -> Dict[str, Any]:
  """The largest values' shares on both sides (for the report's bars)."""
  a, b = _shares(training_stats, name), _shares(served_stats, name)
  values = sorted(set(a) | set(b), key=lambda v: -max(a.get(v, 0),
                                                      b.get(v, 0)))[:top]
  return {'values': values, 'training': [a.get(v, 0.0) for v in values],
          'served': [b.get(v, 0.0) for v in values]}


def thresholds_for(names: Sequence[str], default: float,
                   overrides: Optional[Dict[str, float]] = None
                   ) -> Dict[str, float]:
  overrides = overrides or {}
  return {name: overrides.get(name, default) for name in names}
