"""The newest run of a store, read back for the run summary.

Follows the same events as lineage and the run list (`store.Graph`): each
node's outputs in this run, cached reuses included (TFX records a cached
execution with OUTPUT events to the artifacts it reused), so a fully cached
rerun reports the same data, metrics and push as the run that computed them.
"""

import os
from typing import Any, Dict, List, Optional

from components import model_analysis
from pipeline.metadata import evaluation
from pipeline.metadata import lineage
from pipeline.metadata import statistics
from pipeline.metadata import store as metadata_graph


def component_times(graph: metadata_graph.Graph, run) -> List[Dict[str, Any]]:
  """Executions of a run in order: component, node, state, seconds."""
  return [{
      'component': (execution.type.split('.')[-1] if execution.type
                    else str(execution.type_id)),
      'node': graph.node_id(execution),
      'state': metadata_graph.state_name(execution),
      'seconds': (execution.last_update_time_since_epoch -
                  execution.create_time_since_epoch) / 1000.0,
      'id': execution.id,
  } for execution in graph.run_executions(run)]


def _output(graph, nodes, node: str, key: str):
  execution = nodes.get(node)
  return graph.output(execution, key) if execution else None


def push_record(pushed) -> Dict[str, Any]:
  """What a PushedModel artifact says: pushed or not, version, destination."""
  version = metadata_graph.prop(pushed, 'pushed_version')
  return {'pushed': bool(metadata_graph.prop(pushed, 'pushed', 0)),
          'version': None if version is None else str(version),
          'destination': metadata_graph.prop(pushed, 'pushed_destination'),
          'uri': pushed.uri}


def latest_run(graph: metadata_graph.Graph) -> Dict[str, Any]:
  """Everything the run summary shows of the newest run in the store.

  Returns:
    run_id and components always; rows_per_split, anomalies, metrics (each
    AUC with its 95% interval), blessed and push when the run got that far.
  """
  from components import data_gate  # pylint: disable=g-import-not-at-top
  runs = graph.runs()
  if not runs:
    return {'run_id': None, 'components': []}
  run = runs[-1]
  out = {'run_id': run.name, 'components': component_times(graph, run)}
  nodes = graph.latest_per_node(run)
  transform = nodes.get('Transform')
  if transform:
    out['window_spans'] = sorted(
        metadata_graph.prop(raw, 'span')
        for raw in graph.inputs(transform).get('examples', []))
  stats = _output(graph, nodes, 'StatisticsGen', 'statistics')
  if stats:
    out['rows_per_split'] = statistics.rows_per_split(stats.uri)
  anomalies = _output(graph, nodes, 'ExampleValidator', 'anomalies')
  if anomalies and os.path.isdir(anomalies.uri):
    try:
      out['anomalies'] = data_gate.read_anomalies(anomalies.uri)
    except data_gate.AnomaliesFileMissingError as error:
      # The gate stopped the run on it; the summary says why, not a trace.
      out['anomalies_error'] = str(error)
  found = _output(graph, nodes, 'Evaluator', 'evaluation')
  if found and os.path.isdir(found.uri):
    out['metrics'] = evaluation.load_metrics_with_intervals(
        found.uri)['candidate']
  decided = lineage.judgement(graph, nodes.get(lineage.JUDGE_NODE))
  if decided:
    out['blessed'] = bool(decided['blessed'])
    out['judgement'] = decided
  analysis = lineage.model_analysis(graph,
                                    nodes.get(lineage.ANALYSIS_NODE))
  if analysis:  # the whole of it in <uri>/analysis.json
    out['analysis'] = model_analysis.compact(analysis)
  pushed = _output(graph, nodes, 'Pusher', 'pushed_model')
  if pushed:
    out['push'] = push_record(pushed)
  return out


def latest_run_at(location: metadata_graph.Location
                  ) -> Optional[Dict[str, Any]]:
  """latest_run of the store at a location; None when there is none yet."""
  try:
    graph = metadata_graph.Graph.open(location)
  except metadata_graph.NoMetadataError:
    return None
  return latest_run(graph)
