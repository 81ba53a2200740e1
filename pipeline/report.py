"""The run summary: rows per split, anomalies, metrics, blessing, push, times."""

import os
from typing import Any, Dict

from components import features
from pipeline import summary

MAX_SLICES = 6  # per slicing feature, the largest slices (all are in --json)


def _latest(store, context, type_name, producer=''):
  """Newest artifact of a type in the run (optionally under a producer's dir)."""
  artifacts = [a for a in summary.output_artifacts(store, context, type_name)
               if not producer or f'/{producer}/' in a.uri]
  return max(artifacts, key=lambda a: a.id) if artifacts else None


def _rows_per_split(statistics_uri: str) -> Dict[str, int]:
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  rows = {}
  for split_dir in sorted(os.listdir(statistics_uri)):
    path = os.path.join(statistics_uri, split_dir, 'FeatureStats.pb')
    if os.path.exists(path):
      stats = statistics_pb2.DatasetFeatureStatisticsList()
      with open(path, 'rb') as f:
        stats.ParseFromString(f.read())
      rows[split_dir.replace('Split-', '')] = stats.datasets[0].num_examples
  return rows


def with_auc_intervals(metrics: Dict[str, Dict[str, float]]):
  """Adds a 95% interval to each slice's AUC; drops AUCs of one-class slices.

  TFMA reports AUC 0 for a slice without positives (or negatives), which
  reads as a terrible model rather than an undefined number.
  """
  from data import metrics as data_metrics  # pylint: disable=g-import-not-at-top
  for values in metrics.values():
    if 'auc' not in values or 'mean_label' not in values:
      continue
    count = values.get('example_count', 0)
    positives = int(round(values['mean_label'] * count))
    try:
      values['auc_ci95'] = list(data_metrics.auc_confidence_interval(
          values['auc'], positives, int(count) - positives))
    except ValueError:
      del values['auc']
  return metrics


def summarize(paths, config, prepared, wall_seconds) -> Dict[str, Any]:
  """Everything the summary shows, read back from ML Metadata and artifacts."""
  from components import data_gate  # pylint: disable=g-import-not-at-top
  run = summary.latest_run(paths.metadata_path)
  out = {'run_id': run['run_id'], 'span': prepared.span,
         'input_csv': prepared.csv_path, 'components': run['components'],
         'wall_seconds': round(wall_seconds, 1)}
  if not run['run_id']:
    return out
  store, context = run['store'], run['run_context']
  # Transform also writes ExampleStatistics; the raw data's are StatisticsGen's.
  stats = _latest(store, context, 'ExampleStatistics', 'StatisticsGen')
  if stats:
    out['rows_per_split'] = _rows_per_split(stats.uri)
  anomalies = _latest(store, context, 'ExampleAnomalies')
  if anomalies:
    out['anomalies'] = data_gate.read_anomalies(anomalies.uri)
  evaluation = _latest(store, context, 'ModelEvaluation')
  if evaluation:
    out['metrics'] = with_auc_intervals(summary.eval_metrics(evaluation.uri))
    out['blessed'] = summary.validation_ok(evaluation.uri)
  pushed = _latest(store, context, 'PushedModel')
  if pushed:
    out['push'] = summary.pushed_model(pushed.uri, store, pushed)
  return out


def render(s: Dict[str, Any]) -> str:
  lines = ['', '=== run summary ===',
           f"run {s.get('run_id')}  span {s['span']}  ({s['input_csv']})"]
  if 'rows_per_split' in s:
    lines.append('rows per split: ' + ', '.join(
        f'{k} {v}' for k, v in s['rows_per_split'].items()))
  anomalies = s.get('anomalies')
  lines.append('anomalies: ' + ('none' if not anomalies else ''))
  for split, items in (anomalies or {}).items():
    lines += [f'  [{split}] {item}' for item in items]
  metrics = s.get('metrics', {})
  names = ['example_count', 'auc', 'precision', 'recall', 'binary_accuracy',
           'calibration']
  if metrics:
    by_count = lambda k: -metrics[k].get('example_count', 0)
    shown = ['Overall'] + [k for key in features.SLICE_FEATURES
                           for k in sorted((k for k in metrics
                                            if k.startswith(key + ':')),
                                           key=by_count)[:MAX_SLICES]]
    lines.append('%-45s ' % 'slice' + ' '.join('%10s' % n[:10] for n in names)
                 + '  auc 95% CI')
    for name in shown:
      values = metrics.get(name, {})
      interval = values.get('auc_ci95')
      lines.append('%-45s ' % name[:45] + ' '.join(
          '%10.4g' % values[n] if n in values else '%10s' % '-'
          for n in names) + ('  %.3f-%.3f' % tuple(interval) if interval
                             else '  -'))
  if 'blessed' in s:
    lines.append(f"blessed: {'yes' if s['blessed'] else 'no'}")
  push = s.get('push')
  if push and push['pushed']:
    lines.append(f"pushed: version {push['version']} -> {push['destination']}")
  else:
    lines.append('pushed: nothing')
  lines.append('component times (s):')
  for c in s['components']:
    lines.append(f"  {c['component']:<28} {c['state']:<10} {c['seconds']:8.1f}")
  lines.append(f"total wall time: {s['wall_seconds']} s")
  if s.get('report'):
    lines.append(f"report: {s['report']}")
  if s.get('model_card'):
    lines.append(f"model card: {s['model_card']}")
  return '\n'.join(lines)


def parse_json_summary(stdout: str) -> Dict[str, Any]:
  """The summary that `run --json` prints last, from the command's stdout.

  Components (KerasTuner, for one) print to stdout too, dicts included; the
  summary is the last top-level (unindented) JSON object.
  """
  import json  # pylint: disable=g-import-not-at-top
  start = ('\n' + stdout).rfind('\n{\n')
  return json.loads(stdout[start:]) if start >= 0 else {}
