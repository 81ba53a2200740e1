"""Reads a finished run back from ML Metadata for the human summary."""

import os
from typing import Any, Dict, List

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
import tensorflow_model_analysis as tfma


def _store(metadata_path: str) -> mlmd.MetadataStore:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
  return mlmd.MetadataStore(config)


def latest_run(metadata_path: str) -> Dict[str, Any]:
  """Executions of the newest pipeline run: component, state, seconds."""
  store = _store(metadata_path)
  runs = store.get_contexts_by_type('pipeline_run')
  if not runs:
    return {'components': [], 'run_id': None, 'store': store}
  run = max(runs, key=lambda c: c.create_time_since_epoch)
  components = []
  for execution in sorted(store.get_executions_by_context(run.id),
                          key=lambda e: e.id):
    components.append({
        'component': (execution.type.split('.')[-1] if execution.type
                      else str(execution.type_id)),
        'state': metadata_store_pb2.Execution.State.Name(
            execution.last_known_state),
        'seconds': (execution.last_update_time_since_epoch -
                    execution.create_time_since_epoch) / 1000.0,
        'id': execution.id,
    })
  return {'components': components, 'run_id': run.name, 'store': store,
          'run_context': run}


def output_artifacts(store, run_context, type_name: str) -> List[Any]:
  """Artifacts of a type attributed or associated to the run."""
  artifacts = store.get_artifacts_by_context(run_context.id)
  return [a for a in artifacts
          if store.get_artifact_types_by_id([a.type_id])[0].name == type_name]


def eval_metrics(evaluation_uri: str) -> Dict[str, Dict[str, float]]:
  """Metric values per slice ('Overall' or 'feature:value')."""
  result = {}
  for metrics in tfma.load_metrics(evaluation_uri):
    keys = metrics.slice_key.single_slice_keys
    name = ','.join('%s:%s' % (k.column, k.bytes_value.decode() or
                               k.int64_value) for k in keys) or 'Overall'
    values = {}
    for kv in metrics.metric_keys_and_values:
      # With a baseline, TFMA also stores the baseline's own values and the
      # differences; the summary is about the candidate.
      if kv.key.is_diff or kv.key.model_name == 'baseline':
        continue
      if kv.value.HasField('double_value'):
        values[kv.key.name] = kv.value.double_value.value
    result[name] = values
  return result


def validation_ok(evaluation_uri: str) -> bool:
  return bool(tfma.load_validation_result(evaluation_uri).validation_ok)


def pushed_model(pushed_uri: str, store, artifact) -> Dict[str, Any]:
  props = artifact.custom_properties
  return {
      'pushed': bool(props['pushed'].int_value) if 'pushed' in props else False,
      'version': props['pushed_version'].string_value
                 if 'pushed_version' in props else None,
      'destination': props['pushed_destination'].string_value
                     if 'pushed_destination' in props else None,
      'uri': pushed_uri,
  }
