"""`pipeline mlflow-sync`: the runs of an --output copied into MLflow.

Why from ML Metadata: it is the pipeline's record of what ran, so a run
logged as it finishes (`run --mlflow-tracking-uri`) and one copied later
carry the same values, and past runs can be copied at any time. Idempotent:
each MLflow run is keyed by its ML Metadata run id (the `mlmd.run_id` tag)
and marked complete last (`mlmd.synced`), so a second sync creates nothing
and an interrupted one is redone. One MLflow run per pipeline run, in the
experiment named like the pipeline; a pushed model also becomes a version
of the registered model named like the served model.
"""

import datetime
import json
import os
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from pipeline import paths as project_paths
from pipeline.metadata import lineage
from pipeline.metadata import runs as metadata_runs
from pipeline.metadata import store
from pipeline.reports import run_report
from pipeline.tracking import mlflow_record
from pipeline.tracking import mlflow_registry
from pipeline.tracking import mlflow_rest

# A pipeline run's status -> the MLflow run's.
STATUS = {'complete': 'FINISHED', 'failed': 'FAILED',
          'stopped by data gate': 'FAILED'}
MODEL_CARD = os.path.join('assets.extra', 'model_card.md')


def _millis(iso: str) -> int:
  return int(datetime.datetime.fromisoformat(iso).timestamp() * 1000)


def _git_commit(run: Dict[str, Any]) -> Optional[str]:
  """The commit now, if it holds the components code the run trained with
  (ML Metadata records the code's fingerprint, not a commit)."""
  recorded = ((run.get('training') or {}).get('custom_config') or {}).get(
      'code_fingerprint')
  if not recorded or recorded != project_paths.code_fingerprint():
    return None
  git = lineage.git_version(project_paths.REPO_ROOT)
  if not git['commit']:
    return None
  return git['commit'] + (' (with uncommitted changes)' if git['dirty']
                          else '')


def _ended(graph: store.Graph, run_id: str) -> int:
  """When the run's last execution last changed (millis; now if none)."""
  for context in graph.runs():
    if context.name == run_id:
      times = [e.last_update_time_since_epoch
               for e in graph.run_executions(context)]
      if times:
        return max(times)
  return int(time.time() * 1000)


def _artifacts(paths: project_paths.RunPaths, graph: store.Graph,
               run: Dict[str, Any], folder: str) -> Dict[str, str]:
  """{artifact path: local file} of a run: the HTML report, the model card,
  the lineage JSON (or the run's record, for a run that pushed nothing)."""
  found = {}
  report = os.path.join(paths.reports_dir, run_report.report_name(
      run['run_id']))
  if os.path.isfile(report):
    found[f'report/{os.path.basename(report)}'] = report
  destination = run.get('pushed_destination') or ''
  card = os.path.join(destination, MODEL_CARD)
  if destination and os.path.isfile(card):
    found['model_card.md'] = card
  record = run
  name = 'run.json'
  if run.get('pushed_version'):
    try:
      record = lineage.lineage_of_version(paths.metadata,
                                          run['pushed_version'], graph)
      name = 'lineage.json'
    except lineage.LineageError:
      pass
  local = os.path.join(folder, name)
  with open(local, 'w', encoding='utf-8') as f:
    json.dump(record, f, indent=1, default=str)
  found[name] = local
  return found


def _log_run(client: mlflow_rest.Client, experiment_id: str,
             paths: project_paths.RunPaths, graph: store.Graph,
             run: Dict[str, Any]) -> Dict[str, Any]:
  """One new MLflow run with everything of the pipeline run; the complete
  mark goes last."""
  started = _millis(run['started'])
  tags = mlflow_record.tags(run)
  created = client.create_run(experiment_id, run['run_id'], started,
                              {mlflow_record.RUN_KEY_TAG: run['run_id']})
  run_id = created['info']['run_id']
  client.log_batch(run_id, mlflow_record.params(run, _git_commit(run)),
                   mlflow_record.metrics(run, started), tags)
  with tempfile.TemporaryDirectory() as folder:
    for path, local in sorted(_artifacts(paths, graph, run,
                                         folder).items()):
      client.upload(created['info']['artifact_uri'], local, path)
  client.finish_run(run_id, _ended(graph, run['run_id']),
                    STATUS.get(run['status'], 'KILLED'))
  client.log_batch(run_id, {}, [], {mlflow_record.SYNCED_TAG: 'true'})
  return created


def pipeline_name(graph: store.Graph) -> Optional[str]:
  """The pipeline's name as TFX recorded it (its `pipeline` context)."""
  found = graph.store.get_contexts_by_type('pipeline')
  return found[0].name if found else None


def sync(paths: project_paths.RunPaths, client: mlflow_rest.Client,
         experiment: Optional[str] = None,
         only: Optional[Sequence[str]] = None,
         progress: Callable[[str], None] = lambda line: None
         ) -> List[Dict[str, Any]]:
  """Copies each run (or the runs in `only`) not yet in MLflow.

  Args:
    experiment: the MLflow experiment (default: the pipeline's name).
    only: the ML Metadata run ids to copy (default: all).

  Returns one row per run: its ids, whether it was created now, and the
  registered version of its pushed model (the registered model is named
  like the served model: the folder the Pusher pushed to). A run still running (or killed:
  ML Metadata cannot tell them apart) is left out until it ends.

  Raises:
    store.NoMetadataError: no ML Metadata at --output.
    mlflow_rest.TrackingError: the server cannot be reached or refuses.
  """
  graph = store.Graph.open(paths.metadata)
  experiment_id = client.experiment_id(
      experiment or pipeline_name(graph) or 'pipeline')
  done = []
  for run in metadata_runs.list_runs(paths.metadata, graph):
    if only is not None and run['run_id'] not in only:
      continue
    row = {'run_id': run['run_id'], 'status': run['status']}
    if run['status'] == 'incomplete':
      done.append(dict(row, skipped='still running, or killed'))
      continue
    existing = client.runs_tagged(experiment_id, mlflow_record.RUN_KEY_TAG,
                                  run['run_id'])
    complete = [r for r in existing if mlflow_rest.tags_of(r).get(
        mlflow_record.SYNCED_TAG) == 'true']
    for partial in existing:  # an interrupted sync: done again
      if partial not in complete:
        client.call('POST', 'runs/delete',
                    {'run_id': partial['info']['run_id']})
    created = not complete
    mlflow_run = complete[0] if complete else _log_run(
        client, experiment_id, paths, graph, run)
    row.update(mlflow_run_id=mlflow_run['info']['run_id'], created=created)
    version = run.get('pushed_version')
    destination = run.get('pushed_destination') or ''
    if version and os.path.isdir(destination):
      model_name = os.path.basename(os.path.dirname(destination))
      row['registered'] = {'model': model_name, 'version': (
          mlflow_registry.register(client, model_name, mlflow_run,
                                   destination, version,
                                   run['run_id']))}
    progress(f"mlflow: run {run['run_id']} "
             + ('logged' if created else 'already there')
             + (f" (model {row['registered']['model']} version "
                f"{row['registered']['version']})" if 'registered' in row
                else ''))
    done.append(row)
  return done


def render(rows: List[Dict[str, Any]], uri: str) -> str:
  created = sum(1 for r in rows if r.get('created'))
  lines = [f'MLflow {uri}: {created} run(s) '
           f'logged, {len(rows) - created} already there or skipped']
  for row in rows:
    lines.append(f"  {row['run_id']}: " + (
        row['skipped'] if 'skipped' in row else
        ('logged' if row['created'] else 'already there') +
        f" as {row['mlflow_run_id']}" + (
            f" (registered {row['registered']['model']} version "
            f"{row['registered']['version']})" if 'registered' in row
            else '')))
  return '\n'.join(lines)
