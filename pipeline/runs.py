"""`python -m pipeline runs` and `compare`: past runs from ML Metadata.

A run is a TFX pipeline_run context; its executions (cached or not) say what
it did, and their events lead to its data, model, evaluation and push.
"""

import json
import os
import sys
from typing import Any, Dict, List, Optional

from pipeline import evaluation
from pipeline import lineage
from pipeline import metadata_graph

MAX_SLICES = 6  # per slicing feature in the text comparison (all in --json)

Execution = metadata_graph.Execution


class RunNotFoundError(LookupError):
  """An unknown run id or index: exit code 2."""


def _status(graph, executions) -> str:
  states = {graph.node_id(e): e.last_known_state for e in executions}
  if states.get('DataGate') == Execution.FAILED:
    return 'stopped by data gate'
  if Execution.FAILED in states.values():
    return 'failed'
  if states.get('Pusher') in (Execution.COMPLETE, Execution.CACHED):
    return 'complete'
  # Left RUNNING by a process that was killed, or still running now.
  return 'incomplete'


def describe(graph: metadata_graph.Graph, run, index: int) -> Dict[str, Any]:
  """One run: status, data, hyperparameters, metrics, blessing, push."""
  executions = graph.run_executions(run)
  nodes = {}
  for execution in executions:
    nodes[graph.node_id(execution)] = execution  # the last per node
  out = {'index': index, 'run_id': run.name,
         'started': lineage.iso_time(run.create_time_since_epoch),
         'status': _status(graph, executions),
         'components': {name: metadata_graph.state_name(e)
                        for name, e in nodes.items()}}
  example_gen = nodes.get('CsvExampleGen')
  examples = graph.output(example_gen, 'examples') if example_gen else None
  if examples:
    out['data'] = lineage.data_lineage(graph, examples)
  validator = nodes.get('ExampleValidator')
  schema = graph.input(validator, 'schema') if validator else None
  if schema:
    out['schema_uri'] = schema.uri
  trainer = nodes.get('Trainer')
  if trainer and trainer.last_known_state in (Execution.COMPLETE,
                                              Execution.CACHED):
    out['hyperparameters'] = lineage.hyperparameters(graph, trainer)
    out['training'] = lineage.training(graph, trainer)
  evaluator = nodes.get('Evaluator')
  if evaluator and graph.output(evaluator, 'evaluation'):
    out['evaluation'] = lineage.evaluation_lineage(graph, evaluator)
    blessing = graph.output(evaluator, 'blessing')
    out['blessed'] = bool(blessing and metadata_graph.prop(blessing,
                                                           'blessed'))
  pusher = nodes.get('Pusher')
  pushed = graph.output(pusher, 'pushed_model') if pusher else None
  out['pushed_version'] = (str(metadata_graph.prop(pushed, 'pushed_version'))
                           if pushed and metadata_graph.prop(pushed, 'pushed')
                           else None)
  return out


def list_runs(metadata_path: str) -> List[Dict[str, Any]]:
  graph = metadata_graph.Graph(metadata_graph.open_store(metadata_path))
  return [describe(graph, run, i + 1) for i, run in enumerate(graph.runs())]


def resolve(names: List[str], wanted: str) -> int:
  """The 1-based index of a run given by id, id prefix, index or 'latest'."""
  if not names:
    raise RunNotFoundError('no run is recorded in this ML Metadata')
  if wanted == 'latest':
    return len(names)
  if wanted.isdigit() and 1 <= int(wanted) <= len(names):
    return int(wanted)
  found = [i for i, name in enumerate(names, 1) if name == wanted] or [
      i for i, name in enumerate(names, 1) if name.startswith(wanted)]
  if len(found) == 1:
    return found[0]
  raise RunNotFoundError(
      f'no single run matches {wanted!r}; runs: ' + ', '.join(
          f'{i}={name}' for i, name in enumerate(names, 1)))


def overall_auc(run: Dict[str, Any]) -> Optional[float]:
  metrics = run.get('evaluation', {}).get('metrics', {})
  return metrics.get(evaluation.OVERALL, {}).get('auc')


def render_runs(runs: List[Dict[str, Any]]) -> str:
  lines = ['%-3s %-27s %-21s %5s %7s %8s %-7s %s' % (
      '#', 'run', 'status', 'span', 'rows', 'AUC', 'blessed', 'pushed')]
  for run in runs:
    data = run.get('data', {})
    rows = sum(data.get('rows_per_split', {}).values()) or '-'
    auc = overall_auc(run)
    blessed = run.get('blessed')
    lines.append('%-3s %-27s %-21s %5s %7s %8s %-7s %s' % (
        run['index'], run['run_id'], run['status'], data.get('span', '-'),
        rows, '%.4f' % auc if auc is not None else '-',
        '-' if blessed is None else ('yes' if blessed else 'no'),
        run['pushed_version'] or '-'))
    for f in data.get('files', []):
      lines.append(f"    data {f['path']}")
  return '\n'.join(lines)


def _hparams(run: Dict[str, Any]) -> Dict[str, Any]:
  """The settings that shaped the model (empty for a run without training)."""
  if 'training' not in run:
    return {}
  values = dict(run['hyperparameters']['values'])
  training = run['training']
  config = training.get('custom_config') or {}
  values.update({'(source)': ('Tuner' if run['hyperparameters']['tuned']
                              else 'defaults'),
                 'train_steps': training['train_steps'],
                 'eval_steps': training['eval_steps'],
                 'seed': config.get('seed'),
                 'code_fingerprint': config.get('code_fingerprint')})
  return values


def _metric_rows(a: Dict[str, Any], b: Dict[str, Any]) -> List[Dict[str, Any]]:
  ma = a.get('evaluation', {}).get('metrics', {})
  mb = b.get('evaluation', {}).get('metrics', {})
  rows = []
  for slice_name in sorted(set(ma) | set(mb), key=lambda s: (
      s != evaluation.OVERALL, s)):
    va, vb = ma.get(slice_name, {}), mb.get(slice_name, {})
    for metric in sorted(set(va) | set(vb)):
      x, y = va.get(metric), vb.get(metric)
      if isinstance(x, list) or isinstance(y, list):
        continue  # intervals (auc_ci95) are in each run's own listing
      rows.append({'slice': slice_name, 'metric': metric, 'a': x, 'b': y,
                   'delta': y - x if x is not None and y is not None
                   else None})
  return rows


def compare(metadata_path: str, run_a: str, run_b: str,
            threshold: Optional[float] = None) -> Dict[str, Any]:
  """Hyperparameters, data drift (TFDV) and metrics of two runs."""
  from pipeline import data_stats, drift  # pylint: disable=g-import-not-at-top
  graph = metadata_graph.Graph(metadata_graph.open_store(metadata_path))
  contexts = graph.runs()
  names = [c.name for c in contexts]
  ia, ib = resolve(names, run_a), resolve(names, run_b)  # before any loading
  a = describe(graph, contexts[ia - 1], ia)
  b = describe(graph, contexts[ib - 1], ib)
  threshold = drift.DEFAULT_THRESHOLD if threshold is None else threshold
  ha, hb = _hparams(a), _hparams(b)
  out = {'a': _brief(a), 'b': _brief(b),
         'hyperparameters': [
             {'name': k, 'a': ha.get(k), 'b': hb.get(k),
              'same': ha.get(k) == hb.get(k)}
             for k in sorted(set(ha) | set(hb))],
         'trained': {'a': bool(ha), 'b': bool(hb)},
         'metrics': _metric_rows(a, b)}
  stats_a = (a.get('data') or {}).get('statistics')
  stats_b = (b.get('data') or {}).get('statistics')
  schema_uri = b.get('schema_uri') or a.get('schema_uri')
  if stats_a and stats_b and schema_uri:
    split_a = data_stats.load(stats_a['uri']).get(drift.SPLIT)
    split_b = data_stats.load(stats_b['uri']).get(drift.SPLIT)
    schema_file = os.path.join(schema_uri, 'schema.pbtxt')
    if split_a is None or split_b is None or not os.path.exists(schema_file):
      out['drift'] = {'missing': 'the statistics or the schema are not on '
                                 'disk any more'}
    else:
      out['drift'] = {
          'split': drift.SPLIT, 'threshold': threshold,
          'same_data': stats_a['id'] == stats_b['id'],
          'features': drift.compare(split_a, split_b,
                                    drift.load_schema(schema_uri), threshold)}
  return out


def _brief(run: Dict[str, Any]) -> Dict[str, Any]:
  data = run.get('data', {})
  return {'index': run['index'], 'run_id': run['run_id'],
          'status': run['status'], 'span': data.get('span'),
          'data_sha256': data.get('sha256'),
          'rows_per_split': data.get('rows_per_split'),
          'blessed': run.get('blessed'),
          'pushed_version': run['pushed_version']}


def _num(value) -> str:
  if value is None or value != value:  # missing, or NaN (nothing to divide)
    return '-'
  if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
    return str(int(value))
  return '%.4g' % value if isinstance(value, float) else str(value)


def render_compare(c: Dict[str, Any]) -> str:
  a, b = c['a'], c['b']
  lines = [f"A: #{a['index']} {a['run_id']}  {a['status']}, span {a['span']}"
           f", rows {a['rows_per_split']}",
           f"B: #{b['index']} {b['run_id']}  {b['status']}, span {b['span']}"
           f", rows {b['rows_per_split']}", '', 'hyperparameters:']
  both = all(c['trained'].values())
  for h in c['hyperparameters']:
    lines.append('  %-20s %18s %18s %s' % (
        h['name'], _num(h['a']), _num(h['b']),
        '<- differs' if both and not h['same'] else ''))
  if not c['hyperparameters']:
    lines.append('  neither run trained a model')
  elif not both:
    lines.append('  (%s trained no model)' % ('A' if not c['trained']['a']
                                              else 'B'))
  d = c.get('drift')
  lines.append('')
  if not d or 'missing' in d:
    lines.append('data drift: no statistics to compare' + (
        f" ({d['missing']})" if d else ''))
  else:
    drifted = [f['feature'] for f in d['features']
               if f['drifted'] and not f['within_noise']]
    noisy = [f['feature'] for f in d['features']
             if f['drifted'] and f['within_noise']]
    lines.append(f"data drift ({d['split']} split, B against A, threshold "
                 f"{d['threshold']:g}): " + (
                     'same data' if d['same_data'] else
                     ('DRIFTED: ' + ', '.join(drifted)) if drifted else
                     'no feature drifted') + (
                         f" (above the threshold but within sampling noise:"
                         f" {', '.join(noisy)})" if noisy else ''))
    lines.append('  %-20s %-15s %8s %8s %8s %8s' % (
        'feature', 'measure', 'distance', 'noise', 'values A', 'values B'))
    for f in d['features']:
      noise = f['sampling_noise']
      lines.append('  %-20s %-15s %8.4f %8s %8d %8d %s' % (
          f['feature'], f['measure'], f['distance'],
          '%.4f' % noise if noise is not None else '-', f['values_a'],
          f['values_b'], '' if not f['drifted'] else
          'DRIFT' if not f['within_noise'] else 'noise?'))
  lines += ['', 'metrics overall (B - A):']
  rows = c['metrics']
  if not rows:
    lines.append('  neither run evaluated a model')
  for r in rows:
    if r['slice'] == evaluation.OVERALL:
      lines.append('  %-16s %10s %10s %10s' % (r['metric'], _num(r['a']),
                                               _num(r['b']), _delta(r)))
  auc = {r['slice']: r for r in rows if r['metric'] == 'auc'}
  count = {r['slice']: r for r in rows if r['metric'] == 'example_count'}
  shown = [s for s in _largest_slices(count) if s in auc]
  if shown:
    lines += ['', 'AUC of the largest slices (B - A; all in --json):',
              '  %-44s %6s %6s %8s %8s %8s' % ('slice', 'n A', 'n B', 'A',
                                               'B', 'delta')]
  for name in shown:
    n = count.get(name, {})
    lines.append('  %-44s %6s %6s %8s %8s %8s' % (
        name[:44], _num(n.get('a')), _num(n.get('b')), _num(auc[name]['a']),
        _num(auc[name]['b']), _delta(auc[name])))
  return '\n'.join(lines)


def _delta(row) -> str:
  delta = row['delta']
  return '-' if delta is None or delta != delta else '%+.4g' % delta


def _largest_slices(count_rows: Dict[str, Dict[str, Any]]) -> List[str]:
  """Per slicing feature, its largest slices (by B's, else A's, count)."""
  size = {name: r['b'] if r['b'] is not None else (r['a'] or 0)
          for name, r in count_rows.items() if name != evaluation.OVERALL}
  by_feature = {}
  for name in size:
    by_feature.setdefault(name.split(':')[0], []).append(name)
  return [name for feature in sorted(by_feature)
          for name in sorted(by_feature[feature],
                             key=lambda n: (-size[n], n))[:MAX_SLICES]]


def main(args) -> int:
  """CLI for `runs` and `compare`: exit 2 with a one-line error."""
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  paths = runner.RunPaths(os.path.abspath(args.output))
  try:
    if args.command == 'runs':
      result = list_runs(paths.metadata_path)
      text = render_runs(result) if result else 'no runs recorded'
    else:
      result = compare(paths.metadata_path, args.run_a, args.run_b,
                       args.drift_threshold)
      text = render_compare(result)
  except (metadata_graph.NoMetadataError, RunNotFoundError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(json.dumps(result, indent=2) if args.json else text)
  return 0
