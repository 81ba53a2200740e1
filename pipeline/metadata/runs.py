"""Past runs read from ML Metadata (what `pipeline runs` and `compare` show).

A run is a TFX pipeline_run context; its executions (cached or not) say what
it did, and their events lead to its data, model, evaluation and push.
"""

import os
from typing import Any, Dict, List, Optional

from pipeline.metadata import drift
from pipeline.metadata import evaluation
from pipeline.metadata import lineage
from pipeline.metadata import statistics
from pipeline.metadata import store as metadata_graph

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
  nodes = graph.latest_per_node(run)
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
  judge = nodes.get(lineage.JUDGE_NODE)
  if evaluator and graph.output(evaluator, 'evaluation'):
    out['evaluation'] = lineage.evaluation_lineage(graph, evaluator, judge)
    blessing = graph.output(judge or evaluator, 'blessing')
    out['blessed'] = bool(blessing and metadata_graph.prop(blessing,
                                                           'blessed'))
  out['analysis'] = lineage.model_analysis(
      graph, nodes.get(lineage.ANALYSIS_NODE))
  pusher = nodes.get('Pusher')
  pushed = graph.output(pusher, 'pushed_model') if pusher else None
  was_pushed = bool(pushed and metadata_graph.prop(pushed, 'pushed'))
  out['pushed_version'] = (str(metadata_graph.prop(pushed, 'pushed_version'))
                           if was_pushed else None)
  out['pushed_destination'] = (metadata_graph.prop(pushed,
                                                   'pushed_destination')
                               if was_pushed else None)
  return out


def list_runs(location: metadata_graph.Location,
              graph: Optional[metadata_graph.Graph] = None
              ) -> List[Dict[str, Any]]:
  """Every run of the store, oldest first, as `describe` gives it."""
  graph = graph or metadata_graph.Graph.open(location)
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


def compare(location: metadata_graph.Location, run_a: str, run_b: str,
            threshold: Optional[float] = None) -> Dict[str, Any]:
  """Hyperparameters, data drift (TFDV) and metrics of two runs."""
  graph = metadata_graph.Graph.open(location)
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
    split_a = statistics.load(stats_a['uri']).get(drift.SPLIT)
    split_b = statistics.load(stats_b['uri']).get(drift.SPLIT)
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
