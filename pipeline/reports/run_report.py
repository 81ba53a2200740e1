"""A self-contained HTML report of one run: data, metrics, curves, lineage.

One file with inline CSS and SVG (nothing fetched), so it can be mailed,
archived or opened offline. Everything in it is read back from ML Metadata
and the artifacts it points to.
"""

import os
import re
from typing import Any, Dict, List, Optional

from pipeline import paths as project_paths
from pipeline.metadata import evaluation
from pipeline.metadata import lineage
from pipeline.metadata import runs
from pipeline.metadata import statistics
from pipeline.metadata import store
from pipeline.reports import analysis_text
from pipeline.reports import charts
from pipeline.reports import formatting
from pipeline.reports import html_table

METRICS = ['example_count', 'mean_label', 'auc', 'auc_ci95', 'precision',
           'recall', 'binary_accuracy', 'calibration']
_e = html_table.escape
_table = html_table.table
_num = formatting.number
_signed = formatting.signed

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;
       margin: 24px auto; max-width: 1180px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc;
       padding-bottom: 4px; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; } tr.small td { color: #888; }
.ok { color: #176b2c; font-weight: bold; } .bad { color: #a8261f;
       font-weight: bold; } .plots { display: flex; flex-wrap: wrap;
       gap: 16px; } code { font-size: 12px; word-break: break-all; }
dl { display: grid; grid-template-columns: 220px 1fr; gap: 4px 12px;
     font-size: 13px; } dt { font-weight: bold; } dd { margin: 0; }
.note { color: #555; font-size: 13px; }
"""


def report_name(run_id: str) -> str:
  """<run id with only [A-Za-z0-9._-]>.html: a file name on any system."""
  return re.sub(r'[^A-Za-z0-9._-]', '-', run_id) + '.html'


def report_path(paths: project_paths.RunPaths, run_id: str) -> str:
  """<output>/reports/<report_name>."""
  return os.path.join(paths.reports_dir, report_name(run_id))


def _dl(items: List[tuple]) -> str:
  return '<dl>' + ''.join(f'<dt>{_e(k)}</dt><dd>{v}</dd>'
                          for k, v in items) + '</dl>'


def _data_section(run: Dict[str, Any]) -> str:
  data = run.get('data')
  if not data:
    return '<h2>Data</h2><p>No data was ingested in this run.</p>'
  parts = ['<h2>Data</h2>', _dl(
      [('span', _e(data.get('span')))] +
      [('file', f"<code>{_e(f['path'])}</code> ({f['bytes']:,} bytes)")
       for f in data.get('files', [])] +
      [('content sha256', f"<code>{_e(data.get('sha256'))}</code>"),
       ('rows per split', _e(', '.join(
           f'{k} {v:,}' for k, v in data.get('rows_per_split', {}).items())))
      ])]
  stats = data.get('statistics')
  if stats:
    by_split = statistics.load(stats['uri'])
    for split, dataset in by_split.items():
      rows = []
      for f in statistics.summarize(dataset):
        if f['type'] == 'categorical':
          top = f['top'] if len(f['top']) <= 60 else f['top'][:57] + '...'
          detail = [f['unique'], f'{top} ({f["top_share"]:.1%})', '', '']
        else:
          detail = ['', '', f"{f['mean']:.4g} ± {f['std']:.3g}",
                    f"{f['min']:.6g} .. {f['max']:.6g}"]
        rows.append([f['feature'], f['type'], f"{f['missing']:.1%}"] +
                    detail)
      parts.append(f'<h3>Features, {_e(split)} split '
                   f'({dataset.num_examples:,} rows)</h3>')
      parts.append(_table(['feature', 'type', 'missing', 'distinct',
                           'most frequent (share)', 'mean ± std',
                           'min .. max'], rows))
  anomalies = data.get('anomalies')
  parts.append('<h3>Anomalies (ExampleValidator against the schema)</h3>')
  if anomalies is None:
    parts.append('<p>Not validated.</p>')
  elif anomalies['found'] is None:
    parts.append('<p>The anomalies are not on disk any more.</p>')
  elif not anomalies['found']:
    parts.append('<p class="ok">None: every split matches the schema.</p>')
  else:
    parts.append('<ul>' + ''.join(
        f'<li class="bad">[{_e(split)}] {_e(line)}</li>'
        for split, lines in anomalies['found'].items() for line in lines) +
                 '</ul>')
  return '\n'.join(parts)


def _training_section(run: Dict[str, Any]) -> str:
  training, hp = run.get('training'), run.get('hyperparameters')
  if not training:
    return '<h2>Training</h2><p>No model was trained in this run.</p>'
  history = training.get('history') or {}
  items = [('hyperparameters', _e(', '.join(
      f'{k}={v}' for k, v in sorted(hp['values'].items()))) +
            f" <span class=\"note\">({_e(hp['source'])})</span>"),
           ('steps', _e(f"{training['train_steps']} train, "
                        f"{training['eval_steps']} eval"
                        + (f", in {history['epochs']} epochs"
                           if history.get('epochs') else ''))),
           ('duration', _e(f"{training['seconds']:.0f} s"))]
  final = training.get('final') or {}
  if final:
    items.append(('last epoch', _e(', '.join(
        f'{k} {v:.4g}' for k, v in sorted(final.items())))))
  parts = ['<h2>Training</h2>', _dl(items)]
  curves = history.get('history', {})
  chart = charts.training_curve(curves, 'loss', 'binary cross-entropy')
  if chart:
    parts.append(charts.side_by_side(chart))
  return '\n'.join(parts)


def _metrics_section(ev: Dict[str, Any]) -> str:
  metrics = ev.get('metrics', {})
  validation = ev.get('validation', {})
  parts = ['<h2>Evaluation</h2>',
           '<p>Thresholds the model had to pass to be blessed:</p>',
           _table(['metric', 'slice', 'rule'],
                  [[t['metric'], t['slice'], t['rule']]
                   for t in ev.get('thresholds', [])]),
           _judgement(ev.get('judgement')),
           '<p>Result: ' + (
               '<span class="ok">all thresholds passed</span>'
               if validation.get('ok') else '<span class="bad">failed</span>'
               + ''.join(f'<br>{_e(f)}' for f in validation.get(
                   'failures', []))) + '</p>']
  if ev.get('uri') and os.path.isdir(ev['uri']):
    parts.append(_plots_section(ev['uri']))
  parts += ['<h3>Metrics overall and per slice (eval split)</h3>',
           f'<p class="note">mean_label: the share of disputed complaints. '
           'auc_ci95: the 95% interval of the AUC (Hanley-McNeil); no AUC '
           'where a slice has one class only. Grey rows: slices with fewer '
           f'than {formatting.SMALL_SLICE} eval examples, whose metrics are '
           'mostly noise.</p>']
  order = formatting.slices_by_count(metrics, per_feature=len(metrics))
  rows = [[name] + [metrics[name].get(m) for m in METRICS] for name in order]
  classes = ['small' if formatting.is_small(metrics[name])
             and name != evaluation.OVERALL else '' for name in order]
  parts.append(_table(['slice'] + METRICS, rows, classes))
  return '\n'.join(parts)


def _plots_section(evaluation_uri: str) -> str:
  curves = evaluation.load_curves(evaluation_uri)
  plots = charts.evaluation_charts(curves)
  if not plots:
    return ('<h3>Curves</h3><p>The evaluation has no plots (the Evaluator '
            'computed no ConfusionMatrixPlot or CalibrationPlot).</p>')
  table = _table(['predicted', 'examples', 'mean predicted', 'observed rate'],
                 [[f"{b['lower']:.2f}-{b['upper']:.2f}", int(b['count']),
                   b['mean_prediction'], b['observed_rate']]
                  for b in curves['calibration']])
  return ('<h3>Curves (overall, eval split)</h3>' +
          charts.side_by_side(*plots) + '<h3>Calibration buckets</h3>' +
          table)


def _judgement(found: Optional[Dict[str, Any]]) -> str:
  """The judge's verdict with its numbers (components/judge.py)."""
  if not found:
    return ''
  items = [('verdict', ('<span class="ok">blessed</span>' if found['blessed']
                        else '<span class="bad">held back</span>')),
           ('why', _e(found.get('reason', ''))),
           ('eval rows', _e(f"{found.get('eval_rows', 0):,} "
                            f"({found.get('positives', 0):,} disputed)"))]
  if 'diff' in found:
    items += [('AUC candidate / baseline', _e(
        f"{_num(found['candidate_auc'])} / {_num(found['baseline_auc'])}")),
              ('difference, 95% interval', _e(
                  f"{_signed(found['diff'])} ({_signed(found['diff_ci95'][0])}"
                  f" to {_signed(found['diff_ci95'][1])}), DeLong"))]
  return '<h3>The judge</h3>' + _dl(items)


def _baseline_section(ev: Dict[str, Any]) -> str:
  baseline = ev.get('baseline')
  if baseline is None:
    return ('<h2>Comparison with the baseline</h2><p>No baseline: no '
            'earlier blessed model existed, so only the absolute thresholds '
            'applied.</p>')
  parts = ['<h2>Comparison with the baseline</h2>', _dl([
      ('baseline model', f"<code>{_e(baseline['uri'])}</code>"),
      ('pushed as version', _e(baseline['pushed_version'] or '-')),
      ('trained in run', _e(baseline['run_id']))])]
  candidate = ev.get('metrics', {})
  base = ev.get('baseline_metrics', {})
  diff = ev.get('diff', {})
  overall = evaluation.OVERALL
  parts.append('<h3>Overall</h3>')
  parts.append(_table(
      ['metric', 'candidate', 'baseline', 'candidate - baseline'],
      [[m, candidate.get(overall, {}).get(m), base.get(overall, {}).get(m),
        _signed(diff.get(overall, {}).get(m))] for m in METRICS
       if m in candidate.get(overall, {})]))
  shown = formatting.largest_slices(
      candidate, lambda n: candidate[n].get('example_count', 0))
  parts.append(f'<h3>AUC of the {formatting.SLICES_PER_FEATURE} largest '
               'slices of each feature</h3>')
  parts.append(_table(
      ['slice', 'examples', 'candidate', 'baseline', 'candidate - baseline'],
      [[n, candidate[n].get('example_count'), candidate[n].get('auc'),
        base.get(n, {}).get('auc'), _signed(diff.get(n, {}).get('auc'))]
       for n in shown],
      ['small' if formatting.is_small(candidate[n]) else '' for n in shown]))
  return '\n'.join(parts)


def _lineage_section(run: Dict[str, Any], trail: Optional[Dict[str, Any]],
                     output: str) -> str:
  parts = ['<h2>Lineage (from ML Metadata)</h2>']
  items = []
  if trail:
    push = trail['push']
    items += [('pushed version', _e(push['version'])),
              ('pushed to', f"<code>{_e(push['destination'])}</code>"),
              ('pushed at', _e(push['pushed_at'])),
              ('by run', _e(push['run_id']))]
  else:
    items.append(('pushed', 'nothing (' + _e(run['status']) + ')'))
  data = run.get('data') or {}
  schema = data.get('schema') or {}
  items += [('schema', f"<code>{_e(schema.get('uri'))}</code> from "
                       f"<code>{_e(schema.get('source_file'))}</code>"),
            ('statistics', '<code>%s</code>' % _e(
                (data.get('statistics') or {}).get('uri'))),
            ('anomalies', '<code>%s</code>' % _e(
                (data.get('anomalies') or {}).get('uri')))]
  model = (trail or {}).get('transform')
  if model:
    items.append(('transform graph', f"<code>{_e(model['graph_uri'])}</code>"
                                     f" ({_e(model['preprocessing_fn'])})"))
  training = run.get('training')
  if training:
    items += [('Trainer execution', _e(training['trainer_execution'])),
              ('training logs', '<code>%s</code>' % _e(
                  (training.get('model_run') or {}).get('uri')))]
  if trail:
    items.append(('model', f"<code>{_e(trail['model']['uri'])}</code>"))
  code = (trail or {}).get('code')
  if code:
    git = code['git_now']
    items += [('code (git, at report time)', _e(
        f"{git['commit'] or 'unavailable'}"
        f"{' with uncommitted changes' if git['dirty'] else ''}")),
              ('components fingerprint', _e(
                  f"{code['code_fingerprint_recorded']} at training, "
                  f"{code['code_fingerprint_now']} now"))]
  parts.append(_dl(items))
  if trail:
    parts.append('<p class="note">The full lineage: <code>python -m '
                 f'pipeline lineage --output {_e(output)} --version '
                 f"{_e(trail['push']['version'])}</code></p>")
  return '\n'.join(parts)


def build(graph: store.Graph, output: str,
          run_id: Optional[str] = None) -> Dict[str, Any]:
  """The run (latest by default) and its lineage, as the report shows them.

  Raises:
    runs.RunNotFoundError: no run, or none matching run_id.
  """
  all_runs = graph.runs()
  index = runs.resolve([r.name for r in all_runs], run_id or 'latest')
  run = runs.describe(graph, all_runs[index - 1], index)
  trail = None
  if run['pushed_version']:
    trail = lineage.trace(graph, lineage.find_pushed(
        graph, run['pushed_version']))
  return {'run': run, 'lineage': trail, 'output': output}


def render(report: Dict[str, Any]) -> str:
  """The whole page: one file, inline CSS and SVG, nothing fetched."""
  run, trail = report['run'], report['lineage']
  ev = run.get('evaluation')
  auc = runs.overall_auc(run)
  blessed = run.get('blessed')
  head = _dl([
      ('status', _e(run['status'])),
      ('started', _e(run['started'])),
      ('overall AUC', _num(auc)),
      ('blessed', '-' if blessed is None else (
          '<span class="ok">yes</span>' if blessed
          else '<span class="bad">no</span>')),
      ('pushed version', _e(run['pushed_version'] or 'nothing pushed')),
      ('components', _e(', '.join(f'{k} {v}' for k, v in
                                  run['components'].items())))])
  body = [f'<h1>Run {_e(run["run_id"])}</h1>', head, _data_section(run),
          _training_section(run)]
  if ev:
    body += [_metrics_section(ev), analysis_text.html_section(
        run.get('analysis')), _baseline_section(ev)]
  else:
    body.append('<h2>Evaluation</h2><p>No model was evaluated in this run '
                f'({_e(run["status"])}).</p>')
  body.append(_lineage_section(run, trail, report['output']))
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<title>Run {_e(run["run_id"])}</title><style>{STYLE}</style>'
          '</head><body>\n' + '\n'.join(body) + '\n</body></html>\n')


def write(paths: project_paths.RunPaths, report: Dict[str, Any]) -> str:
  """Writes <output>/reports/<run id>.html (whole or not at all); its path."""
  path = report_path(paths, report['run']['run_id'])
  write_text(path, render(report))
  return path


def write_text(path: str, text: str) -> None:
  """Writes through a temporary file and a rename: never a half-written page."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  staging = path + '.tmp'
  with open(staging, 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(staging, path)
