"""The model's dependency on its features and its errors per group, as the
run report (HTML), the model card (Markdown) and lineage (text) show them.

Read from what the ModelAnalysis component wrote (components/model_analysis.py,
analysis.json): mean |attribution| per feature with its 95% interval,
permutation importance with its bootstrap interval, and the fairness rates
at the decision threshold with their intervals and the largest gaps.
"""

from typing import Any, Dict, List, Optional

from pipeline.reports import charts
from pipeline.reports import formatting
from pipeline.reports import html_table

_e = html_table.escape
_num = formatting.number
_signed = formatting.signed
TOP_FEATURES = 5       # per slice: the overall top features' columns
RATE_NAMES = {'false_positive_rate': 'FPR', 'false_negative_rate': 'FNR',
              'positive_rate': 'positive rate'}


def _ci(values: Optional[List[float]]) -> str:
  if not values or values[0] is None:
    return formatting.MISSING
  return f'{values[0]:.3f} to {values[1]:.3f}'


def _value_ci(found: List[Optional[float]]) -> str:
  """'0.123 (0.100 to 0.150)' of [mean, low, high]; no interval for a
  slice of one row."""
  return f'{found[0]:.3f} ({_ci(found[1:])})'


def _rate(found: Dict[str, Any]) -> str:
  """'0.123 (0.10-0.15, 12/98)'."""
  if found.get('value') is None:
    return formatting.MISSING
  return (f"{found['value']:.3f} ({_ci(found['ci95'])}; "
          f"{found['count']}/{found['of']})")


def _method(attributions: Dict[str, Any]) -> str:
  error = attributions.get('approximation_error') or {}
  return (f"{attributions.get('method') or 'unknown method'}; measured "
          f"from the mean over {attributions.get('reference_rows') or 0:,} "
          f"eval rows; approximation error mean "
          f"{_num(error.get('mean'))}, max {_num(error.get('max'))}")


def _threshold(fairness: Dict[str, Any]) -> str:
  if fairness.get('decision') == 'argmax':
    return 'the predicted class is the argmax; each class one vs the rest'
  return (f"a row is flagged when its score is at least "
          f"{fairness['threshold']:.4f}: {fairness.get('threshold_source')}")


def _gap_rows(gaps: Dict[str, List[Dict[str, Any]]], prefix: str = ''
              ) -> List[List[Any]]:
  return [[prefix + feature, RATE_NAMES[g['rate']],
           f"{g['highest']} - {g['lowest']}", f"{g['gap']:+.3f}",
           f"{g['ci95'][0]:+.3f} to {g['ci95'][1]:+.3f}",
           'yes' if g['flagged'] else 'no']
          for feature, found in sorted(gaps.items()) for g in found]


GAP_HEADER = ['slicing feature', 'rate', 'highest - lowest slice', 'gap',
              '95% interval (Newcombe)', 'flagged']


def _fairness_parts(fairness: Dict[str, Any]):
  """(label, part) per class (multi-class) or once (binary)."""
  if 'per_class' in fairness:
    return [(f'class {name}: ', part)
            for name, part in fairness['per_class'].items()]
  return [('', fairness)]


def html_section(analysis: Optional[Dict[str, Any]]) -> str:
  """The report's section: charts and tables with intervals."""
  head = '<h2>Dependency on the features, and errors per group</h2>'
  if not analysis:
    return head + '<p>No model analysis in this run.</p>'
  if 'attributions' not in analysis:
    return head + f"<p>{_e(analysis.get('error', 'no attributions'))}</p>"
  attributions = analysis['attributions']
  importance = analysis['permutation_importance']
  rows = attributions['features']
  parts = [head, '<p class="note">Attributions: ' + _e(_method(
      attributions)) + '. Mean |attribution| is in log-odds (per class: the '
      'mean over classes); the interval is the mean\'s 95% interval over '
      f"the {attributions['rows']:,} eval rows. Permutation importance: "
      f"the AUC drop and log-loss rise when a feature (group) is shuffled, "
      f"{importance['repeats']} shuffles over {importance['rows']:,} rows, "
      f"95% paired bootstrap interval ({importance['resamples']} "
      'resamples).</p>']
  plots = [charts.bar_chart(
      'Mean |attribution| per feature', [r['feature'] for r in rows],
      [('mean |attribution|', [r['mean_abs'] for r in rows],
        charts.MODEL_COLOR)], 'log-odds',
      intervals=[[tuple(r['ci95']) for r in rows]])]
  found = importance['features']
  plots.append(charts.bar_chart(
      'Permutation importance', [r['feature'] for r in found],
      [('AUC drop', [max(r['auc_drop'] or 0.0, 0.0) for r in found],
        charts.SECOND_COLOR)], 'AUC drop when shuffled',
      intervals=[[(max(r['auc_drop_ci95'][0] or 0.0, 0.0),
                   r['auc_drop_ci95'][1] or 0.0) for r in found]]))
  truth = {g['feature']: g['mean_abs'] for g in (
      attributions.get('label_model') or {}).get('groups', [])}
  if truth and attributions.get('groups'):
    groups = attributions['groups']
    plots.append(charts.bar_chart(
        'By group, next to the label model', [g['feature'] for g in groups],
        [('model: mean |attribution|', [g['mean_abs'] for g in groups],
          charts.MODEL_COLOR),
         ('label model (truth if generated)',
          [truth.get(g['feature'], 0.0) for g in groups],
          charts.REFERENCE_COLOR)], 'log-odds',
        intervals=[[tuple(g['ci95']) for g in groups]]))
  parts.append(charts.side_by_side(*plots))
  parts.append('<h3>Mean |attribution| per feature</h3>' + html_table.table(
      ['feature', 'mean |attribution|', '95% interval'],
      [[r['feature'], r['mean_abs'], _ci(r['ci95'])] for r in rows]))
  if attributions.get('groups'):
    parts.append('<h3>Stand-in features together</h3>' + (
        f'<p class="note">label model: {_e(attributions["label_model"]["note"])}'
        '</p>' if truth else '') + html_table.table(
            ['group', 'mean |attribution|', '95% interval'] + (
                ['label model'] if truth else []),
            [[g['feature'], g['mean_abs'], _ci(g['ci95'])] + (
                [truth.get(g['feature'])] if truth else [])
             for g in attributions['groups']]))
  parts.append('<h3>Permutation importance</h3>' + html_table.table(
      ['feature (group)', 'AUC drop', '95% interval', 'log-loss rise',
       '95% interval'],
      [[r['feature'], r['auc_drop'], _ci(r['auc_drop_ci95']),
        r['log_loss_rise'], _ci(r['log_loss_rise_ci95'])] for r in found]))
  top = [r['feature'] for r in rows[:TOP_FEATURES]]
  for feature, values in sorted(attributions.get('slices', {}).items()):
    parts.append(f'<h3>Mean |attribution| per slice of {_e(feature)} '
                 '(the largest slices)</h3>' + html_table.table(
                     ['slice', 'rows'] + top,
                     [[name, found['rows']] + [
                         _value_ci(found['mean_abs'][k]) for k in top]
                      for name, found in values.items()]))
  fairness = analysis['fairness']
  parts.append('<h3>Errors per group at the decision threshold</h3>'
               f'<p class="note">{_e(_threshold(fairness))}; Wilson 95% '
               f"intervals; slices with at least {fairness['min_rows']} "
               'rows; a gap is flagged when its interval leaves out 0. '
               'Reported, not gated.</p>')
  gap_rows, overall_rows = [], []
  for label, part in _fairness_parts(fairness):
    gap_rows += _gap_rows(part['gaps'], label)
    overall_rows.append([label.rstrip(': ') or 'all rows'] + [
        _rate(part['overall'][rate]) for rate in RATE_NAMES])
  parts.append(html_table.table(['overall'] + list(RATE_NAMES.values()),
                                overall_rows))
  parts.append(html_table.table(GAP_HEADER, gap_rows, [
      'bad' if row[-1] == 'yes' else '' for row in gap_rows]))
  for label, part in _fairness_parts(fairness):
    for feature, values in sorted(part.get('slices', {}).items()):
      parts.append(f'<h3>{_e(label)}rates per slice of {_e(feature)}</h3>'
                   + html_table.table(
                       ['slice'] + list(RATE_NAMES.values()),
                       [[name] + [_rate(found[r]) for r in RATE_NAMES]
                        for name, found in sorted(
                            values.items(),
                            key=lambda kv: -kv[1]['positive_rate']['of'])]))
  return '\n'.join(parts)


def card_lines(analysis: Optional[Dict[str, Any]]) -> List[str]:
  """The model card's sections (Markdown)."""
  if not analysis or 'attributions' not in analysis:
    return []
  attributions = analysis['attributions']
  importance = analysis['permutation_importance']
  lines = ['## Dependency on the features', '',
           f'Mean |attribution| (log-odds) on the eval split, with its 95% '
           f'interval ({_method(attributions)}), and permutation importance '
           '(the AUC drop when the feature, or its group, is shuffled; 95% '
           'paired bootstrap interval):', '',
           '| feature | mean abs attribution | 95% interval |',
           '|---|---|---|']
  lines += [f"| {r['feature']} | {r['mean_abs']:.4f} | {_ci(r['ci95'])} |"
            for r in attributions['features']]
  truth = {g['feature']: g['mean_abs'] for g in (
      attributions.get('label_model') or {}).get('groups', [])}
  if attributions.get('groups'):
    lines += ['', 'Stand-in features together'
              + (f" (label model: {attributions['label_model']['note']})"
                 if truth else '') + ':', '',
              '| group | mean abs attribution | 95% interval |'
              + (' label model |' if truth else ''),
              '|---|---|---|' + ('---|' if truth else '')]
    lines += [f"| {g['feature']} | {g['mean_abs']:.4f} | {_ci(g['ci95'])} |"
              + (f" {truth.get(g['feature'], 0.0):.4f} |" if truth else '')
              for g in attributions['groups']]
  lines += ['', '| feature (group) | AUC drop | 95% interval | log-loss rise '
            '| 95% interval |', '|---|---|---|---|---|']
  lines += [f"| {r['feature']} | {_signed(r['auc_drop'])} | "
            f"{_ci(r['auc_drop_ci95'])} | {_signed(r['log_loss_rise'])} | "
            f"{_ci(r['log_loss_rise_ci95'])} |"
            for r in importance['features']]
  fairness = analysis['fairness']
  lines += ['', '## Errors per group', '',
            f'At the decision threshold: {_threshold(fairness)}. Wilson 95% '
            'intervals; reported, not gated.', '',
            '| | ' + ' | '.join(RATE_NAMES.values()) + ' |',
            '|---' * (len(RATE_NAMES) + 1) + '|']
  for label, part in _fairness_parts(fairness):
    lines.append(f"| {label.rstrip(': ') or 'all rows'} | " + ' | '.join(
        _rate(part['overall'][r]) for r in RATE_NAMES) + ' |')
  gap_rows = [row for label, part in _fairness_parts(fairness)
              for row in _gap_rows(part['gaps'], label)]
  lines += ['', 'The largest gap between two slices of each slicing '
            'feature, per rate (flagged when its interval leaves out 0):',
            '', '| ' + ' | '.join(GAP_HEADER) + ' |',
            '|---' * len(GAP_HEADER) + '|']
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |'
            for row in gap_rows]
  return lines + ['']


def text_lines(analysis: Optional[Dict[str, Any]]) -> List[str]:
  """A few lines for `pipeline lineage`: the top features, the flagged
  gaps, where the whole analysis is."""
  if not analysis:
    return ['analysis: none']
  if 'attributions' not in analysis:
    return [f"analysis: {analysis.get('error')}"]
  attributions = analysis['attributions']
  lines = [f"analysis: {analysis.get('uri')}",
           '  mean |attribution|: ' + ', '.join(
               f"{r['feature']} {r['mean_abs']:.3f} ({_ci(r['ci95'])})"
               for r in attributions['features'][:TOP_FEATURES]),
           '  permutation importance (AUC drop): ' + ', '.join(
               f"{r['feature']} {_signed(r['auc_drop'])} "
               f"({_ci(r['auc_drop_ci95'])})"
               for r in analysis['permutation_importance']['features'][
                   :TOP_FEATURES])]
  fairness = analysis['fairness']
  lines.append(f'  fairness: {_threshold(fairness)}')
  flagged = fairness.get('flagged') or []
  lines.append('  flagged gaps: ' + ('none' if not flagged else '; '.join(
      f"{g.get('class', '') and 'class ' + g['class'] + ' '}"
      f"{g['feature']} {RATE_NAMES[g['rate']]} {g['highest']} - "
      f"{g['lowest']} {g['gap']:+.3f} ({g['ci95'][0]:+.3f} to "
      f"{g['ci95'][1]:+.3f})" for g in flagged)))
  return lines
