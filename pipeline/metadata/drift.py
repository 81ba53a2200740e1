"""Data drift between two runs' statistics, measured by TFDV.

TFDV compares a feature's distribution in two statistics when the schema
gives it a drift comparator: the L-infinity distance of the value shares for
categorical (string) features, the Jensen-Shannon divergence of the
histograms for numeric ones. It reports the distance of every feature that
has a comparator, and an anomaly for those above the threshold.
"""

import math
import os
from typing import Any, Dict, List

from pipeline.metadata import statistics

# A value's share moving by 10 points (or a JS divergence of 0.1) is beyond
# the sampling noise of runs of a few thousand rows (about 0.01-0.03 here).
DEFAULT_THRESHOLD = 0.1
SPLIT = 'train'
# Identifiers are unique per row: their distribution says nothing.
SKIPPED = ('complaint_id',)

_MEASURES = {1: 'L-infinity', 2: 'Jensen-Shannon'}  # DriftSkewInfo types


def with_comparators(schema, threshold: float):
  """A copy of the schema with a drift comparator on every compared feature."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = type(schema).FromString(schema.SerializeToString())
  for feature in schema.feature:
    if feature.name in SKIPPED:
      continue
    if feature.type == schema_pb2.BYTES:
      feature.drift_comparator.infinity_norm.threshold = threshold
    else:
      feature.drift_comparator.jensen_shannon_divergence.threshold = threshold
  return schema


def compare(previous, current, schema,
            threshold: float = DEFAULT_THRESHOLD) -> List[Dict[str, Any]]:
  """Per feature: measure, distance, threshold, drifted; largest first.

  Args:
    previous: DatasetFeatureStatistics of the earlier run's split.
    current: DatasetFeatureStatistics of the later run's same split.
    schema: the schema both were validated against.
    threshold: distance above which a feature has drifted.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  anomalies = tfdv.validate_statistics(
      statistics.stats_list(current), with_comparators(schema, threshold),
      previous_statistics=statistics.stats_list(previous))
  counts_a, counts_b = value_counts(previous), value_counts(current)
  found = []
  for info in anomalies.drift_skew_info:
    name = '.'.join(info.path.step)
    for measurement in info.drift_measurements:
      measure = _MEASURES.get(measurement.type, str(measurement.type))
      na, nb = counts_a.get(name, 0), counts_b.get(name, 0)
      noise = (sampling_noise(na, nb) if measure == 'L-infinity' else None)
      found.append({
          'feature': name, 'measure': measure,
          'distance': measurement.value,
          'threshold': measurement.threshold,
          'drifted': measurement.value > measurement.threshold,
          'values_a': na, 'values_b': nb, 'sampling_noise': noise,
          'within_noise': (noise is not None and
                           measurement.value <= noise)})
  return sorted(found, key=lambda d: (-d['distance'], d['feature']))


def sampling_noise(values_a: int, values_b: int, z: float = 3.0) -> float:
  """A share's largest plausible move between two samples of one population.

  z standard deviations of the difference of two sample shares at the worst
  case p = 0.5: a sparse feature (few values present) can pass the
  threshold by chance, and this says so. `compare` uses 3; the monitor its
  configured noise_z.
  """
  if values_a < 1 or values_b < 1:
    return 1.0
  return z * math.sqrt(0.25 * (1.0 / values_a + 1.0 / values_b))


def value_counts(dataset) -> Dict[str, int]:
  """Values present per feature (what the shares are computed over)."""
  counts = {}
  for feature in dataset.features:
    kind = feature.WhichOneof('stats')
    if kind in ('string_stats', 'num_stats'):
      counts[statistics.feature_name(feature)] = int(
          getattr(feature, kind).common_stats.tot_num_values)
  return counts


def load_schema(schema_uri: str):
  """The schema.pbtxt of a Schema artifact."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_schema_text(os.path.join(schema_uri, 'schema.pbtxt'))
