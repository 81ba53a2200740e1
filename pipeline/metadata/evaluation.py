"""Reads an Evaluator's output: metrics and diffs per slice, thresholds, curves.

With a baseline, TFMA records the candidate's and the baseline's values and
their difference under the same metric name; they are kept apart here. This
is the one rule by which metrics are read: the run summary, lineage, the run
list, the HTML report, the model card and the notebooks all use it.
"""

from typing import Any, Dict, List, Optional

from data import metrics as data_metrics

OVERALL = 'Overall'


def slice_name(slice_key) -> str:
  """'Overall' or 'feature:value' (as in the run summary)."""
  parts = []
  for key in slice_key.single_slice_keys:
    kind = key.WhichOneof('kind')
    raw = getattr(key, kind) if kind else ''
    parts.append('%s:%s' % (key.column, raw.decode() if isinstance(
        raw, bytes) else raw))
  return ','.join(parts) or OVERALL


def _role(key) -> str:
  """'candidate', 'baseline' or 'diff' (model names are '' without baseline)."""
  if getattr(key, 'is_diff', False):  # PlotKeys have no is_diff
    return 'diff'
  return 'baseline' if key.model_name == 'baseline' else 'candidate'


def load_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
  """{'candidate'|'baseline'|'diff': {slice: {metric: value}}}."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = {'candidate': {}, 'baseline': {}, 'diff': {}}
  for metrics in tfma.load_metrics(evaluation_uri):
    name = slice_name(metrics.slice_key)
    for kv in sorted(metrics.metric_keys_and_values,
                     key=lambda kv: kv.key.HasField('example_weighted')):
      # The model's own compiled metrics ('auc', 'loss') come without
      # example_weighted; TFMA's (the ones the thresholds gate on) with it,
      # and are sorted last so they win a name clash.
      if kv.value.HasField('double_value'):
        result[_role(kv.key)].setdefault(name, {})[kv.key.name] = (
            kv.value.double_value.value)
  return {role: values for role, values in result.items() if values or
          role == 'candidate'}


def with_auc_intervals(metrics: Dict[str, Dict[str, float]]):
  """Adds a 95% interval to each slice's AUC; drops AUCs of one-class slices.

  TFMA reports AUC 0 for a slice without positives (or negatives), which
  reads as a terrible model rather than an undefined number.
  """
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


def load_metrics_with_intervals(evaluation_uri: str):
  """load_metrics, each model's slices with their AUC intervals."""
  metrics = load_metrics(evaluation_uri)
  for role in ('candidate', 'baseline'):
    if role in metrics:
      with_auc_intervals(metrics[role])
  return metrics


def validation(evaluation_uri: str) -> Dict[str, Any]:
  """Whether every threshold passed, and the failures if not."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_validation_result(evaluation_uri)
  failures = []
  for per_slice in result.metric_validations_per_slice:
    for failure in per_slice.failures:
      failures.append('%s %s: %s' % (slice_name(per_slice.slice_key),
                                     failure.metric_key.name,
                                     failure.message))
  return {'ok': bool(result.validation_ok), 'failures': failures}


def _bound(threshold: Dict[str, Any]) -> List[str]:
  texts = []
  value = threshold.get('value_threshold') or {}
  if 'lower_bound' in value:
    texts.append('value >= %g' % value['lower_bound'])
  if 'upper_bound' in value:
    texts.append('value <= %g' % value['upper_bound'])
  change = threshold.get('change_threshold') or {}
  higher = change.get('direction', 'HIGHER_IS_BETTER') == 'HIGHER_IS_BETTER'
  for kind in ('absolute', 'relative'):
    if kind in change:
      texts.append('change vs baseline %s %g (%s)' % (
          '>=' if higher else '<=', change[kind], kind))
  return texts


def thresholds(eval_config: Dict[str, Any]) -> List[Dict[str, str]]:
  """Each metric threshold of an EvalConfig (as JSON) in words."""
  found = []
  for spec in eval_config.get('metrics_specs', []):
    for metric in spec.get('metrics', []):
      name = metric.get('class_name', '')
      if metric.get('threshold'):
        found.append({'metric': name, 'slice': 'every slice',
                      'rule': ' and '.join(_bound(metric['threshold']))})
      for per_slice in metric.get('per_slice_thresholds', []):
        slices = [', '.join(s.get('feature_keys', [])) or OVERALL
                  for s in per_slice.get('slicing_specs', [])]
        found.append({'metric': name, 'slice': ', '.join(slices),
                      'rule': ' and '.join(_bound(per_slice['threshold']))})
  return found


def load_curves(evaluation_uri: str,
                slice_wanted: str = OVERALL) -> Dict[str, Any]:
  """ROC and precision-recall points, calibration buckets of one slice."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  curves = {'roc': [], 'pr': [], 'calibration': []}
  for plots in tfma.load_plots(evaluation_uri):
    if slice_name(plots.slice_key) != slice_wanted:
      continue
    for kv in plots.plot_keys_and_values:
      if _role(kv.key) != 'candidate':
        continue
      data = kv.value
      if data.HasField('confusion_matrix_at_thresholds'):
        points = _confusion_points(data.confusion_matrix_at_thresholds)
        curves['roc'] = [(p['fpr'], p['tpr']) for p in points]
        curves['pr'] = [(p['tpr'], p['precision']) for p in points
                        if p['precision'] is not None]
      if data.HasField('calibration_histogram_buckets'):
        curves['calibration'] = _calibration(
            data.calibration_histogram_buckets)
  return curves


def _confusion_points(matrices) -> List[Dict[str, Optional[float]]]:
  points = []
  for m in matrices.matrices:
    tp, fp = m.true_positives, m.false_positives
    tn, fn = m.true_negatives, m.false_negatives
    points.append({
        'threshold': m.threshold,
        'tpr': tp / (tp + fn) if tp + fn else 0.0,
        'fpr': fp / (fp + tn) if fp + tn else 0.0,
        'precision': tp / (tp + fp) if tp + fp else None})
  return points


def _calibration(histogram) -> List[Dict[str, float]]:
  """Buckets with examples: mean prediction, observed rate, count."""
  buckets = []
  for b in histogram.buckets:
    count = b.num_weighted_examples.value
    if count <= 0:
      continue
    buckets.append({
        'lower': max(b.lower_threshold_inclusive, 0.0),
        'upper': min(b.upper_threshold_exclusive, 1.0),
        'count': count,
        'mean_prediction': b.total_weighted_refined_prediction.value / count,
        'observed_rate': b.total_weighted_label.value / count})
  return buckets
