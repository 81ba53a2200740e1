"""`pipeline monitor`: one window of served traffic against training.

For each model version in the window, ML Metadata says what it was trained
on: PushedModel <- Pusher <- Model <- Trainer (its schema) <- Transform <-
Examples -> StatisticsGen (the training statistics) and the span files, and
Evaluator (the eval split's predicted probabilities, as its
calibration histogram). The window's statistics are kept under
<output>/monitoring/, so the next window is also compared with this one.

Every column is judged by its kind in the dataset spec
(pipeline/monitoring/by_kind.py), the CFPB complaints' as any other data
set's: the span files give the numeric values, text lengths, categorical
values and (multi-class) the label shares, and the window's numeric values
and text lengths are kept beside its statistics (VALUES_FILE) for the next
window's numeric drift.

Each version's served rows are explained by its own model
(the `explain` signature) and their mean |attribution| per feature is
compared with the eval split's, as ModelAnalysis recorded it
(pipeline/monitoring/attribution_drift.py; check `attribution`).
"""

import dataclasses
import datetime
import hashlib
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from pipeline import paths as project_paths
from pipeline.config import PipelineConfig
from pipeline.metadata import drift
from pipeline.metadata import evaluation
from pipeline.metadata import lineage
from pipeline.metadata import statistics
from pipeline.metadata import store
from pipeline.monitoring import attribution_drift
from pipeline.monitoring import by_kind
from pipeline.monitoring import prediction_logs
from pipeline.monitoring import served_data
from pipeline.monitoring import skew

SUMMARY_FILE = 'window.json'
STATS_FILE = 'served_statistics.pb'
VALUES_FILE = 'served_values.npz'   # a spec's numerics and text lengths


class MonitorInputError(ValueError):
  """Logs the monitor cannot judge (one line, exit 2)."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """What counts as a shift; see pipeline.config for the defaults."""
  skew: float
  drift: float
  prediction: float
  numeric: float   # Jensen-Shannon: numeric columns and text lengths
  noise_z: float
  per_feature: Dict[str, float] = dataclasses.field(default_factory=dict)
  attribution: float = PipelineConfig.attribution_drift_threshold

  @classmethod
  def from_config(cls, config: PipelineConfig) -> 'Thresholds':
    """The monitor's settings of a config (`pipeline monitor`, the loop)."""
    return cls(skew=config.skew_threshold, drift=config.drift_threshold,
               prediction=config.prediction_shift_threshold,
               numeric=config.numeric_threshold,
               noise_z=config.noise_z,
               per_feature=config.per_feature_thresholds(),
               attribution=config.attribution_drift_threshold)


@dataclasses.dataclass
class TrainedOn:
  version: str
  schema: Any
  train_stats: Any
  eval_buckets: List[Dict[str, float]]
  run_id: Optional[str]
  # The span files' reference values (by_kind.read_span_values).
  values: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  categorical: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
  class_counts: Optional[np.ndarray] = None
  # The served model and the eval split's attributions (None: not judged).
  attribution: Optional[attribution_drift.Baseline] = None


def trained_on(graph: store.Graph, version: str, spec) -> TrainedOn:
  """What a pushed version was trained on, as ML Metadata records it (the
  span files read by the spec's kinds).

  Raises:
    MonitorInputError: the version was never pushed into this store.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  try:
    pushed = lineage.find_pushed(graph, version)
  except lineage.LineageError as error:
    raise MonitorInputError(f'the logs are of model version {version}, '
                            f'which this ML Metadata does not know: '
                            f'{error}') from None
  model = graph.input(graph.producer(pushed), 'model')
  trainer = graph.producer(model)
  schema = graph.input(trainer, 'schema')
  transform = graph.producer(graph.input(trainer, 'transform_graph'))
  examples = graph.input(transform, 'examples')
  stats = lineage.first_output(graph, examples, 'StatisticsGen', 'statistics')
  train_stats = statistics.load(stats.uri).get('train')
  example_gen = graph.producer(examples)
  files = lineage.data_files(example_gen, store.prop(examples, 'span'))
  buckets = []
  for evaluator in graph.consumers(model, 'Evaluator'):
    found = graph.output(evaluator, 'evaluation')
    if found and os.path.isdir(found.uri):
      buckets = evaluation.load_curves(found.uri)['calibration']
      break
  run = graph.run_of(trainer)
  reference = by_kind.read_span_values(files, spec)
  return TrainedOn(str(version), tfdv.load_schema_text(
      os.path.join(schema.uri, 'schema.pbtxt')), train_stats, buckets,
                   run.name if run else None, reference['values'],
                   reference['categorical'], reference['class_counts'],
                   attribution_drift.baseline_of(graph, pushed, model))


def _spec_frame(rows: List[Dict[str, Any]], spec):
  """Served rows in the spec's feature columns, typed as CsvExampleGen
  types the span files (so both statistics agree on each type): numeric
  columns float (NaN missing), integer-valued categoricals int, the rest
  strings; None where missing."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  keys = [f.key for f in spec.features]
  numeric = set(by_kind.numeric_keys(spec))
  columns = {}
  for key in keys:
    raw = [row.get(key) for row in rows]
    if key in numeric:
      columns[key] = pd.Series(by_kind.as_numbers(raw), dtype=float)
      continue
    texts = ['' if v is None else str(v) for v in raw]
    whole = by_kind.is_integer_column(texts)
    columns[key] = pd.Series([(int(float(v)) if whole else v) if v else None
                              for v in texts], dtype=object)
  return pd.DataFrame(columns, columns=keys)


def served_statistics(rows: List[Dict[str, Any]], spec):
  """TFDV statistics of served raw features, in the spec's feature columns
  typed as in _spec_frame."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.generate_statistics_from_dataframe(
      _spec_frame(rows, spec)).datasets[0]


def prediction_shift(trained: TrainedOn, predictions: List[float],
                     thresholds: Thresholds) -> Optional[Dict[str, Any]]:
  """Served predicted probabilities against the eval split's, on its bins."""
  if not trained.eval_buckets or not predictions:
    return None
  edges = [b['lower'] for b in trained.eval_buckets] + [1.0]
  expected = np.array([b['count'] for b in trained.eval_buckets])
  served = np.histogram(np.clip(predictions, 0.0, 1.0), bins=edges)[0]
  distance = skew.js_divergence(expected, served)
  noise = skew.js_noise(len(expected), int(expected.sum()), len(predictions),
                        thresholds.noise_z)
  applied = max(thresholds.prediction, noise)
  return {'feature': skew.PREDICTED, 'measure': 'Jensen-Shannon',
          'distance': distance, 'threshold': thresholds.prediction,
          'sampling_noise': noise, 'applied_threshold': applied,
          'alert': distance > applied,
          'values_training': int(expected.sum()),
          'values_served': len(predictions),
          'distribution': {'bins': edges, 'training': expected.tolist(),
                           'served': served.tolist()}}


def _window_key(files: List[str]) -> str:
  digest = hashlib.sha256()
  for path in files:
    digest.update(f'{os.path.abspath(path)}\0{os.path.getsize(path)}\0'
                  .encode())
  return digest.hexdigest()[:12]


def _previous_window(monitoring_dir: str, key: str):
  """The newest stored window of other logs, as (summary, statistics)."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(monitoring_dir):
    return None, None
  for name in sorted(os.listdir(monitoring_dir), reverse=True):
    folder = os.path.join(monitoring_dir, name)
    summary_path = os.path.join(folder, SUMMARY_FILE)
    if not os.path.isfile(summary_path):
      continue
    with open(summary_path, encoding='utf-8') as f:
      summary = json.load(f)
    if summary.get('logs_key') == key:
      continue
    stats = statistics_pb2.DatasetFeatureStatistics()
    with open(os.path.join(folder, STATS_FILE), 'rb') as f:
      stats.ParseFromString(f.read())
    return summary, stats
  return None, None


def _drift(previous_stats, current_stats, schema, thresholds: Thresholds,
           spec):
  """Categorical drift (TFDV's L-infinity) of the spec's categoricals.
  Integer categoricals are left out: TFDV reports 0 for them
  (by_kind.has_value_shares)."""
  found = []
  names = by_kind.categorical_keys(spec)
  for item in drift.compare(previous_stats, current_stats, schema,
                            thresholds.drift):
    if item['feature'] not in names:
      continue
    if not by_kind.has_value_shares(previous_stats, item['feature']):
      continue  # an integer categorical: TFDV's 0 is no measurement
    noise = drift.sampling_noise(item['values_a'], item['values_b'],
                                 thresholds.noise_z)
    applied = max(thresholds.drift, noise)
    found.append({'feature': item['feature'], 'measure': item['measure'],
                  'distance': item['distance'],
                  'threshold': thresholds.drift, 'sampling_noise': noise,
                  'applied_threshold': applied,
                  'alert': item['distance'] > applied})
  return found


def js_default(thresholds: Thresholds) -> float:
  """The Jensen-Shannon threshold of a numeric column or text length (skew
  and drift alike) unless per_feature names it; the drift threshold is an
  L-infinity one."""
  return thresholds.numeric


def numeric_drift(previous: Dict[str, np.ndarray],
                  current: Dict[str, np.ndarray], thresholds: Thresholds,
                  spec) -> List[Dict[str, Any]]:
  """A spec's numerics and text lengths against the previous window's, on
  the previous window's bins, in the drift table's shape."""
  found = []
  for item in by_kind.value_shifts(previous, current, spec,
                                   js_default(thresholds),
                                   thresholds.per_feature,
                                   thresholds.noise_z):
    found.append({key: item[key] for key in (
        'feature', 'measure', 'distance', 'threshold', 'sampling_noise',
        'applied_threshold', 'alert')})
  return found


def _unmeasured_categoricals(trained: TrainedOn, rows, measured, spec,
                             thresholds: Thresholds) -> List[Dict[str, Any]]:
  """L-infinity here for the categoricals TFDV measured none of (held as
  numbers in the statistics, by_kind.has_value_shares), from the span
  files' values."""
  found = []
  for key in by_kind.categorical_keys(spec):
    if key in measured or key not in trained.categorical:
      continue
    served = ['' if row.get(key) is None else str(row.get(key))
              for row in rows]
    found.append(by_kind.linf_shift(
        key, trained.categorical[key], served,
        thresholds.per_feature.get(key, thresholds.skew),
        thresholds.noise_z))
  return found


def _prediction_by_kind(trained: TrainedOn, rows, thresholds: Thresholds,
                        spec) -> (int, Optional[Dict[str, Any]]):
  """(predictions, finding): binary on the eval split's calibration bins,
  multi-class by the predicted classes' shares (by_kind.class_shift)."""
  predictions = [row[served_data.PREDICTION] for row in rows
                 if served_data.PREDICTION in row]
  if not spec.multiclass:
    return len(predictions), prediction_shift(trained, predictions,
                                              thresholds)
  return len(predictions), by_kind.class_shift(
      trained.class_counts, predictions, spec.label.classes,
      thresholds.per_feature.get(skew.PREDICTED_CLASS, thresholds.prediction),
      thresholds.noise_z)


def judge_by_kind(trained: TrainedOn, rows: List[Dict[str, Any]],
                  thresholds: Thresholds, spec) -> Dict[str, Any]:
  """Skew, serving anomalies and prediction shift of one version's rows:
  every column by its kind in the spec."""
  served = served_statistics(rows, spec)
  names = by_kind.categorical_keys(spec)
  per_feature = skew.thresholds_for(names, thresholds.skew,
                                    thresholds.per_feature)
  findings, anomalies = skew.categorical_skew(
      trained.train_stats, served, trained.schema, per_feature,
      thresholds.noise_z, training_only=(spec.label.key, spec.join_key))
  findings = [f for f in findings if by_kind.has_value_shares(
      trained.train_stats, f['feature'])]
  findings += _unmeasured_categoricals(
      trained, rows, {f['feature'] for f in findings}, spec, thresholds)
  values = by_kind.row_values(rows, spec)
  findings += by_kind.value_shifts(trained.values, values, spec,
                                   js_default(thresholds),
                                   thresholds.per_feature, thresholds.noise_z)
  count, shift = _prediction_by_kind(trained, rows, thresholds, spec)
  if shift:
    findings.append(shift)
  return {'model_version': trained.version, 'trained_in_run': trained.run_id,
          'requests': len(rows), 'predictions': count,
          'skew': findings, 'anomalies': anomalies, 'statistics': served,
          'values': values}


def judge_version(trained: TrainedOn, rows: List[Dict[str, Any]],
                  thresholds: Thresholds, spec) -> Dict[str, Any]:
  """Skew, serving anomalies, prediction shift and attribution drift of
  one version's rows."""
  judged = judge_by_kind(trained, rows, thresholds, spec)
  judged.update(attribution_drift.judge(
      trained.attribution, rows, thresholds.attribution,
      thresholds.per_feature, thresholds.noise_z, spec))
  return judged


def monitor(paths: project_paths.RunPaths, logs: str, model_name: str,
            thresholds: Thresholds, spec) -> Dict[str, Any]:
  """Reads one window, judges each version in it by the dataset spec's
  kinds, stores the window.

  Raises:
    prediction_logs.NoLogsError, MonitorInputError, store.NoMetadataError.
  """
  read = prediction_logs.read(logs)
  served = served_data.to_rows(read.logs, model_name, spec)
  if not served.rows:
    raise MonitorInputError(f'none of the {len(read.logs)} records under '
                            f'{logs} is a request to model {model_name}')
  graph = store.Graph.open(paths.metadata)
  by_version: Dict[Any, List[Dict[str, Any]]] = {}
  for row in served.rows:
    by_version.setdefault(row[served_data.VERSION], []).append(row)
  if None in by_version:
    raise MonitorInputError('some logged requests carry no model version')
  trained = {v: trained_on(graph, str(v), spec) for v in sorted(by_version)}
  versions = [judge_version(trained[v], by_version[v], thresholds, spec)
              for v in sorted(by_version)]
  key = _window_key(read.files)
  previous, previous_stats = _previous_window(paths.monitoring_dir, key)
  latest = versions[-1]
  drift = (_drift(previous_stats, latest['statistics'],
                  trained[sorted(by_version)[-1]].schema, thresholds, spec)
           if previous_stats is not None else None)
  if previous is not None:
    earlier = _previous_values(paths.monitoring_dir, previous)
    if earlier:
      drift += numeric_drift(earlier, latest['values'], thresholds, spec)
  result = {
      'window': datetime.datetime.now(datetime.timezone.utc).strftime(
          '%Y%m%dT%H%M%S%fZ'),
      'logs': logs, 'logs_key': key, 'files': len(read.files),
      'records': len(read.logs), 'requests': len(served.rows),
      'skipped_records': served.skipped_records,
      'damaged_files': read.damaged_files,
      'unreadable_bytes': read.unreadable_bytes,
      'versions': [{k: v for k, v in item.items()
                    if k not in ('statistics', 'values')}
                   for item in versions],
      'previous_window': previous['window'] if previous else None,
      'drift': drift,
  }
  result['features'] = feature_table(result)
  result['alert'] = any(f['alert'] for f in result['features'])
  _store_window(paths, result, latest['statistics'], latest.get('values'))
  return result


def _row(finding: Dict[str, Any], check: str, version: str
         ) -> Dict[str, Any]:
  """One finding as a row of the --json list."""
  return {'feature': finding['feature'], 'check': check,
          'model_version': version, 'measure': finding['measure'],
          'distance': round(finding['distance'], 6),
          'threshold': round(finding['applied_threshold'], 6),
          'alert': bool(finding['alert'])}


def feature_table(result: Dict[str, Any]) -> List[Dict[str, Any]]:
  """Every feature judged, by its raw feature key: the --json list."""
  table = []
  for version in result['versions']:
    name = version['model_version']
    table += [_row(f, 'skew', name) for f in version['skew']]
    table += [_row(f, attribution_drift.CHECK, name)
              for f in version.get('attribution') or []]
    for feature, reasons in version['anomalies'].items():
      table.append({'feature': feature, 'check': 'schema',
                    'model_version': name, 'measure': 'anomaly',
                    'distance': None, 'threshold': None, 'alert': True,
                    'reasons': reasons})
  table += [_row(f, 'drift', result['versions'][-1]['model_version'])
            for f in result.get('drift') or []]
  return table


def _previous_values(monitoring_dir: str,
                    previous: Dict[str, Any]) -> Dict[str, np.ndarray]:
  """The previous window's numeric values and text lengths ({} when it
  kept none: a window stored by an older version of the monitor)."""
  path = os.path.join(monitoring_dir, f"window-{previous['window']}",
                      VALUES_FILE)
  if not os.path.isfile(path):
    return {}
  with np.load(path) as stored:
    return {name: stored[name] for name in stored.files}


def _store_window(paths, result, stats, values=None) -> None:
  folder = os.path.join(paths.monitoring_dir, f"window-{result['window']}")
  os.makedirs(folder, exist_ok=True)
  if values is not None:
    np.savez(os.path.join(folder, VALUES_FILE), **values)
  with open(os.path.join(folder, STATS_FILE), 'wb') as f:
    f.write(stats.SerializeToString())
  staging = os.path.join(folder, SUMMARY_FILE + '.tmp')
  with open(staging, 'w', encoding='utf-8') as f:
    json.dump(result, f, indent=1, default=float)
  os.replace(staging, os.path.join(folder, SUMMARY_FILE))
  result['window_dir'] = folder
