"""The run summary on the terminal, and its JSON form read back.

Rows per split, anomalies, metrics overall and for the largest slices,
blessing, push, each component's state and time, and what to do next.
"""

import json
from typing import Any, Dict, List

from pipeline.reports import formatting

# (summary key, column header): full headers, no truncation.
COLUMNS = [('example_count', 'examples'), ('auc', 'AUC'),
           ('auc_ci95', 'AUC 95% CI'), ('precision', 'precision'),
           ('recall', 'recall'), ('binary_accuracy', 'accuracy'),
           ('calibration', 'calibration')]
SLICE_WIDTH = 44


def _metrics_table(metrics: Dict[str, Dict[str, Any]]) -> List[str]:
  widths = [max(len(header), 11) for _, header in COLUMNS]
  lines = ['%-*s ' % (SLICE_WIDTH, 'slice') + ' '.join(
      '%*s' % (w, header) for w, (_, header) in zip(widths, COLUMNS))]
  for name in formatting.slices_by_count(metrics):
    values = metrics.get(name, {})
    label = name if len(name) <= SLICE_WIDTH else name[:SLICE_WIDTH - 1] + '~'
    lines.append('%-*s ' % (SLICE_WIDTH, label) + ' '.join(
        '%*s' % (w, formatting.number(values.get(key)))
        for w, (key, _) in zip(widths, COLUMNS)))
  return lines


def render(s: Dict[str, Any]) -> str:
  """The summary of one run (what `pipeline run` prints without --json)."""
  lines = ['', '=== run summary ===',
           f"run {s.get('run_id')}  span {s['span']}  ({s['input_csv']})"]
  periods = s.get('periods')
  if periods:
    lines.append(f"periods ({periods['span_by']}): ingested "
                 + (', '.join(f"{p['label']} (span {p['span']})"
                              for p in periods['ingested']) or 'none')
                 + (f"; older than the window, not ingested: "
                    f"{', '.join(periods['not_ingested_older_than_window'])}"
                    if periods['not_ingested_older_than_window'] else ''))
  if len(s.get('window_spans') or []) > 1:
    lines.append('trained on spans ' + ', '.join(
        str(span) for span in s['window_spans']) + ' (the rolling window); '
                 f"validated and judged on span {s['span']}")
  if 'rows_per_split' in s:
    lines.append('rows per split: ' + ', '.join(
        f'{k} {v:,}' for k, v in s['rows_per_split'].items()))
  anomalies = s.get('anomalies')
  lines.append('anomalies: ' + ('none' if not anomalies else ''))
  for split, items in (anomalies or {}).items():
    lines += [f'  [{split}] {item}' for item in items]
  metrics = s.get('metrics', {})
  if metrics:
    lines += ['metrics on the eval split (the largest slices; all in '
              '--json):'] + _metrics_table(metrics)
  if 'blessed' in s:
    reason = (s.get('judgement') or {}).get('reason')
    lines.append(f"blessed: {'yes' if s['blessed'] else 'no'}" +
                 (f' ({reason})' if reason else ''))
  analysis = s.get('analysis') or {}
  if 'attributions' in analysis:
    lines.append('depends most on: ' + ', '.join(
        r['feature'] for r in analysis['attributions']['features'][:3])
                 + f"; error-rate gaps between groups flagged: "
                 f"{len(analysis['fairness'].get('flagged') or [])} "
                 '(the report has both, with intervals)')
  push = s.get('push')
  if push and push['pushed']:
    lines.append(f"pushed: version {push['version']} -> {push['destination']}")
  else:
    lines.append('pushed: nothing')
  lines.append('component times (s):')
  for c in s['components']:
    # Resolvers by node ('training_window', ...): their type names are alike.
    name = c.get('node') if c['component'] == 'Resolver' else c['component']
    lines.append(f"  {name or c['component']:<28} {c['state']:<10} "
                 f"{c['seconds']:8.1f}")
  lines.append(f"total wall time: {s['wall_seconds']} s")
  if s.get('report'):
    lines.append(f"report: {s['report']}")
  if s.get('model_card'):
    lines.append(f"model card: {s['model_card']}")
  if s.get('index'):
    lines.append(f"all runs: {s['index']}")
  if s.get('log'):
    lines.append(f"full log: {s['log']}")
  lines += next_steps(s)
  return '\n'.join(lines)


def next_steps(s: Dict[str, Any]) -> List[str]:
  """What a person would do next with this run's outcome."""
  output = s.get('output')
  if not output:
    return []
  steps = ['next:']
  push = s.get('push') or {}
  if push.get('pushed'):
    steps.append(f'  serve it:     make serve OUTPUT={output}')
    steps.append(f'  its lineage:  python -m pipeline lineage --output {output}')
  if s.get('report'):
    steps.append(f"  the report:   open {s['report']}")
  steps.append(f'  past runs:    python -m pipeline runs --output {output}')
  return steps


def parse_json_summary(stdout: str) -> Dict[str, Any]:
  """The summary that `run --json` prints last, from the command's stdout.

  Components (KerasTuner, for one) print to stdout too, dicts included; the
  summary is the last top-level (unindented) JSON object.
  """
  start = ('\n' + stdout).rfind('\n{\n')
  return json.loads(stdout[start:]) if start >= 0 else {}
