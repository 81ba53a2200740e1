"""Data drift between two runs' statistics, measured by TFDV.

TFDV compares a feature's distribution in two statistics when the schema
gives it a drift comparator: the L-infinity distance of the value shares for
categorical (string) features, the Jensen-Shannon divergence of the
histograms for numeric ones. It reports the distance of every feature that
has a comparator, and an anomaly for those above the threshold.
"""

import os
from typing import Any, Dict, List

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
  from pipeline import data_stats  # pylint: disable=g-import-not-at-top
  anomalies = tfdv.validate_statistics(
      data_stats.stats_list(current), with_comparators(schema, threshold),
      previous_statistics=data_stats.stats_list(previous))
  found = []
  for info in anomalies.drift_skew_info:
    for measurement in info.drift_measurements:
      found.append({
          'feature': '.'.join(info.path.step),
          'measure': _MEASURES.get(measurement.type, str(measurement.type)),
          'distance': measurement.value,
          'threshold': measurement.threshold,
          'drifted': measurement.value > measurement.threshold})
  return sorted(found, key=lambda d: (-d['distance'], d['feature']))


def load_schema(schema_uri: str):
  """The schema.pbtxt of a Schema artifact."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_schema_text(os.path.join(schema_uri, 'schema.pbtxt'))
