"""Reads a StatisticsGen output: rows per split and a per-feature summary."""

import os
from typing import Any, Dict, List

STATS_FILE = 'FeatureStats.pb'


def load(statistics_uri: str) -> Dict[str, Any]:
  """{split: DatasetFeatureStatistics} of an ExampleStatistics artifact."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  found = {}
  if not os.path.isdir(statistics_uri):
    return found
  # Train first: it is the split the model learnt from.
  for split_dir in sorted(os.listdir(statistics_uri),
                          key=lambda d: (d != 'Split-train', d)):
    path = os.path.join(statistics_uri, split_dir, STATS_FILE)
    if os.path.exists(path):
      stats = statistics_pb2.DatasetFeatureStatisticsList()
      with open(path, 'rb') as f:
        stats.ParseFromString(f.read())
      found[split_dir.replace('Split-', '')] = stats.datasets[0]
  return found


def stats_list(dataset):
  """A DatasetFeatureStatisticsList of one split (what TFDV takes)."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  result = statistics_pb2.DatasetFeatureStatisticsList()
  result.datasets.add().CopyFrom(dataset)
  return result


def rows_per_split(statistics_uri: str) -> Dict[str, int]:
  return {split: int(d.num_examples)
          for split, d in load(statistics_uri).items()}


def feature_name(feature) -> str:
  return '.'.join(feature.path.step) if feature.path.step else feature.name


def summarize(dataset) -> List[Dict[str, Any]]:
  """Per feature: type, share missing, and distinct/top or mean/std/min/max."""
  rows = []
  total = max(int(dataset.num_examples), 1)
  for feature in sorted(dataset.features, key=feature_name):
    kind = feature.WhichOneof('stats')
    row, top = {'feature': feature_name(feature)}, None
    if kind == 'string_stats':
      stats = feature.string_stats
      common = stats.common_stats
      top = stats.top_values[0] if stats.top_values else None
      row.update({
          'type': 'categorical', 'unique': int(stats.unique),
          'top': top.value if top else '', 'top_share': 0.0})
    elif kind == 'num_stats':
      stats = feature.num_stats
      common = stats.common_stats
      row.update({'type': 'numeric', 'mean': stats.mean,
                  'std': stats.std_dev, 'min': stats.min, 'max': stats.max})
    else:
      continue
    # CsvExampleGen writes an empty cell as a feature with no value, so
    # "missing" is counted from the values, not from num_missing.
    present = (common.tot_num_values if common.max_num_values <= 1
               else common.num_non_missing)
    row['missing'] = 1.0 - present / total
    if top is not None:
      row['top_share'] = top.frequency / max(common.tot_num_values, 1)
    rows.append(row)
  return rows
