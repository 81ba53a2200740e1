"""Where a pushed model came from, read from ML Metadata (`pipeline lineage`).

Walks MLMD's events from the PushedModel back through Pusher, Evaluator,
Trainer, Tuner, Transform, ExampleValidator, StatisticsGen and CsvExampleGen
to the input CSV, so each answer is what the run recorded, not a guess from
folder names. Files are only read where MLMD points (artifact URIs, the
ExampleGen's recorded input base and pattern).

The component modules (TensorFlow, TFX) are imported inside the functions
that need them: loading TensorFlow takes seconds, and the CLI's error paths
(no store, unknown version) answer before any of it is needed.
"""

import datetime
import glob
import hashlib
import json
import os
import subprocess
from typing import Any, Dict, List, Optional

from components import judge as judge_module
from components import model_analysis as analysis_module
from pipeline import data_versions
from pipeline import paths as project_paths
from pipeline.metadata import evaluation
from pipeline.metadata import statistics
from pipeline.metadata import store as metadata_graph

HPARAMS_FILE = 'best_hyperparameters.txt'


class LineageError(RuntimeError):
  """No pushed model (or not the version asked for): exit code 2."""


def iso_time(millis: int) -> str:
  return datetime.datetime.fromtimestamp(
      millis / 1000.0, datetime.timezone.utc).isoformat(timespec='seconds')


def pushed_models(graph: metadata_graph.Graph) -> List[Any]:
  """PushedModel artifacts that were actually pushed, oldest version first."""
  pushed = [a for a in graph.artifacts_of_type('PushedModel')
            if metadata_graph.prop(a, 'pushed')]
  return sorted(pushed, key=lambda a: (
      str(metadata_graph.prop(a, 'pushed_version', '')).zfill(20), a.id))


def find_pushed(graph: metadata_graph.Graph, version: Optional[str] = None):
  models = pushed_models(graph)
  if not models:
    raise LineageError('no pushed model is recorded in this ML Metadata '
                       '(no run was blessed and pushed yet)')
  if version is None:
    return models[-1]
  for model in models:
    if str(metadata_graph.prop(model, 'pushed_version')) == str(version):
      return model
  known = ', '.join(str(metadata_graph.prop(m, 'pushed_version'))
                    for m in models)
  raise LineageError(f'no pushed model with version {version}; '
                     f'pushed versions: {known}')


def data_files(example_gen, span) -> List[str]:
  """The CSV files the ExampleGen read: its recorded input base and pattern."""
  base = metadata_graph.prop(example_gen, 'input_base', '')
  config = metadata_graph.json_prop(example_gen, 'input_config', {}) or {}
  files = []
  for split in config.get('splits', []):
    # The executing ExampleGen records the pattern with the span resolved.
    pattern = split.get('pattern', '').replace('{SPAN}', str(span))
    files += sorted(glob.glob(os.path.join(base, pattern)))
  return files


def _recorded_bytes(fingerprint: str) -> Optional[int]:
  """total_bytes of TFX's input fingerprint ('split:all,...,total_bytes:N')."""
  for part in (fingerprint or '').split(','):
    if part.startswith('total_bytes:'):
      return int(part.split(':', 1)[1])
  return None


def data_lineage(graph: metadata_graph.Graph, examples) -> Dict[str, Any]:
  """Input files, span, rows per split, statistics and anomalies of Examples."""
  from components import data_gate  # pylint: disable=g-import-not-at-top
  example_gen = graph.producer(examples)
  span = metadata_graph.prop(examples, 'span')
  files = data_files(example_gen, span) if example_gen else []
  hashed = [{'path': path, 'bytes': os.path.getsize(path),
             'sha256': graph.file_sha256(path)} for path in files]
  fingerprint = hashlib.sha256(''.join(
      f['sha256'] for f in hashed).encode()).hexdigest() if len(
          hashed) > 1 else (hashed[0]['sha256'] if hashed else None)
  recorded = metadata_graph.prop(examples, 'input_fingerprint', '')
  recorded_bytes = _recorded_bytes(recorded)
  out = {
      'span': span,
      'files': hashed,
      'sha256': fingerprint,
      'tfx_input_fingerprint': recorded,
      # TFX's fingerprint records sizes and mtimes, not content: a size
      # mismatch means the file changed since this data was ingested.
      'unchanged_since_ingestion': (
          None if recorded_bytes is None or not hashed
          else recorded_bytes == sum(f['bytes'] for f in hashed)),
      'examples': {'id': examples.id, 'uri': examples.uri},
      # Read from a DVC repository (run --data-repo): the revisions that
      # gave this span's content, with DVC's hashes (data_versions.record).
      'sources': (data_versions.read(os.path.dirname(files[0])) if files
                  else []),
      'example_gen_execution': example_gen.id if example_gen else None,
      'ingested_at': (iso_time(example_gen.create_time_since_epoch)
                      if example_gen else None),
  }
  stats = first_output(graph, examples, 'StatisticsGen', 'statistics')
  if stats:
    out['statistics'] = {'id': stats.id, 'uri': stats.uri}
    out['rows_per_split'] = statistics.rows_per_split(stats.uri)
    anomalies = first_output(graph, stats, 'ExampleValidator',
                              'anomalies')
    if anomalies:
      try:
        found = (data_gate.read_anomalies(anomalies.uri)
                 if os.path.isdir(anomalies.uri) else None)  # None: deleted
      except data_gate.AnomaliesFileMissingError as error:
        found = {'error': str(error)}
      out['anomalies'] = {'id': anomalies.id, 'uri': anomalies.uri,
                          'found': found}
      validator = graph.producer(anomalies)
      schema = graph.input(validator, 'schema') if validator else None
      if schema:
        out['schema'] = schema_lineage(graph, schema)
  return out


def schema_lineage(graph: metadata_graph.Graph, schema) -> Dict[str, Any]:
  importer = graph.producer(schema)
  return {'id': schema.id, 'uri': schema.uri,
          'source_file': (metadata_graph.prop(importer, 'schema_file')
                          if importer else None),
          'produced_by': graph.node_id(importer) if importer else None}


def first_output(graph, artifact, node: str, key: str):
  """The `key` output of the first `node` execution that read artifact."""
  for execution in graph.consumers(artifact, node):
    found = graph.output(execution, key)
    if found:
      return found
  return None


def hyperparameters(graph: metadata_graph.Graph, trainer) -> Dict[str, Any]:
  """The Tuner's best hyperparameters, else the Trainer's defaults."""
  from components import model as model_module  # pylint: disable=g-import-not-at-top
  model_run = graph.output(trainer, 'model_run')
  # What run_fn says it used (newer runs record it), else reconstructed.
  used = ((training_history(model_run.uri) if model_run else None)
          or {}).get('hyperparameters')
  values = dict(model_module.DEFAULT_HPARAMS)
  tuned = graph.input(trainer, 'hyperparameters')
  if tuned is None:
    return {'source': 'defaults in components.model.DEFAULT_HPARAMS, no '
                      'Tuner ran', 'tuned': False, 'values': used or values,
            'recorded_by_trainer': bool(used)}
  path = os.path.join(tuned.uri, HPARAMS_FILE)
  best = {}
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      best = json.load(f).get('values', {})
  values.update(best)
  tuner = graph.producer(tuned)
  return {'source': 'best trial of the Tuner', 'tuned': True,
          'values': used or values,
          'recorded_by_trainer': bool(used),
          'tuner_best': best,
          'artifact': {'id': tuned.id, 'uri': tuned.uri},
          'tuner_execution': tuner.id if tuner else None,
          'tuner_config': (metadata_graph.json_prop(tuner, 'custom_config')
                           if tuner else None),
          'tuner_steps': ((metadata_graph.json_prop(tuner, 'train_args')
                           or {}).get('num_steps') if tuner else None)}


def training_logs(model_run_uri: str) -> Dict[str, Dict[str, float]]:
  """Last value of each Keras scalar in TensorBoard (train, validation)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = {}
  for part in ('train', 'validation'):
    for path in sorted(glob.glob(os.path.join(model_run_uri, part,
                                              'events.out.tfevents.*'))):
      for event in tf.compat.v1.train.summary_iterator(path):
        for v in event.summary.value:
          if v.tag.startswith('epoch_'):
            number = (float(tf.make_ndarray(v.tensor))
                      if v.HasField('tensor') else v.simple_value)
            found.setdefault(part, {})[v.tag[len('epoch_'):]] = number
  return found


def training_history(model_run_uri: str) -> Optional[Dict[str, Any]]:
  """The curve run_fn records beside the TensorBoard logs, if it did."""
  from components import model as model_module  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_run_uri, model_module.HISTORY_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def training(graph: metadata_graph.Graph, trainer) -> Dict[str, Any]:
  """Steps and config the Trainer recorded; losses from its model_run logs."""
  train_args = metadata_graph.json_prop(trainer, 'train_args') or {}
  eval_args = metadata_graph.json_prop(trainer, 'eval_args') or {}
  model_run = graph.output(trainer, 'model_run')
  logs = training_logs(model_run.uri) if model_run else {}
  history = training_history(model_run.uri) if model_run else None
  final = {}
  if history:  # the last epoch's values, as Keras reported them
    final = {name: values[-1] for name, values in
             history.get('history', {}).items() if values}
  return {
      'trainer_execution': trainer.id,
      'run_fn': metadata_graph.prop(trainer, 'run_fn'),
      'train_steps': train_args.get('num_steps'),
      'eval_steps': eval_args.get('num_steps'),
      'custom_config': metadata_graph.json_prop(trainer, 'custom_config'),
      'started': iso_time(trainer.create_time_since_epoch),
      'seconds': (trainer.last_update_time_since_epoch -
                  trainer.create_time_since_epoch) / 1000.0,
      # TensorBoard scalars, last epoch: 'train' is the mean over that
      # epoch's steps, 'validation' the evaluation at its end.
      'logged': logs,
      'history': history,
      # What built the model, as the Trainer recorded it (components.stack);
      # None for a model trained before it did.
      'stack': (history or {}).get('stack'),
      'final': final,
      'model_run': {'id': model_run.id, 'uri': model_run.uri}
                   if model_run else None,
  }


def _pushed_version_of(graph: metadata_graph.Graph, model) -> Optional[str]:
  for pusher in graph.consumers(model, 'Pusher'):
    pushed = graph.output(pusher, 'pushed_model')
    if pushed and metadata_graph.prop(pushed, 'pushed'):
      return str(metadata_graph.prop(pushed, 'pushed_version'))
  return None


JUDGE_NODE = judge_module.NODE_ID


def judgement(graph: metadata_graph.Graph, judge) -> Optional[Dict[str, Any]]:
  """What the judge decided and why (its blessing's judgement.json)."""
  blessing = graph.output(judge, 'blessing') if judge else None
  path = (os.path.join(blessing.uri, judge_module.JUDGEMENT_FILE)
          if blessing else '')
  if not path or not os.path.isfile(path):
    return None
  with open(path, encoding='utf-8') as f:
    found = json.load(f)
  found['blessing'] = {'id': blessing.id, 'uri': blessing.uri}
  return found


ANALYSIS_NODE = analysis_module.NODE_ID


def model_analysis(graph: metadata_graph.Graph,
                   execution) -> Optional[Dict[str, Any]]:
  """What a ModelAnalysis execution found (its analysis.json, with where
  it is), None without one or when it is not on disk any more."""
  found = graph.output(execution, 'analysis') if execution else None
  analysis = (analysis_module.read(found.uri)
              if found and os.path.isdir(found.uri) else None)
  if analysis is not None:
    analysis['uri'] = found.uri
  return analysis


def analysis_of_model(graph: metadata_graph.Graph,
                      model) -> Optional[Dict[str, Any]]:
  """The latest analysis of a Model artifact (None: none recorded)."""
  for execution in reversed(graph.consumers(model, ANALYSIS_NODE)):
    found = model_analysis(graph, execution)
    if found is not None:
      return found
  return None


def evaluator_of(graph: metadata_graph.Graph, judge):
  """The Evaluator execution of the judge's run that evaluated its model."""
  model = graph.input(judge, 'model')
  run = graph.run_of(judge)
  found = [e for e in graph.consumers(model, 'Evaluator')
           if graph.output(e, 'evaluation')]
  same_run = [e for e in found if run and graph.run_of(e) and
              graph.run_of(e).id == run.id]
  return (same_run or found or [None])[-1]


def evaluation_lineage(graph: metadata_graph.Graph, evaluator,
                       judge=None) -> Dict[str, Any]:
  """Metrics, the rules and verdict, and the baseline of an evaluation.

  The metrics are the Evaluator's; the rules, the verdict and the paired
  comparison with the baseline are the judge's (components/judge.py), when
  the run has one.
  """
  result = evaluation_uri = None
  found = graph.output(evaluator, 'evaluation')
  if found:
    evaluation_uri = found.uri
  baseline = graph.input(evaluator, 'baseline_model')
  eval_config = metadata_graph.json_prop(evaluator, 'eval_config') or {}
  result = {
      'evaluator_execution': evaluator.id,
      'uri': evaluation_uri,
      'thresholds': evaluation.thresholds(eval_config),
      'baseline': None if baseline is None else {
          'model_id': baseline.id, 'uri': baseline.uri,
          'pushed_version': _pushed_version_of(graph, baseline),
          'run_id': _run_id(graph, graph.producer(baseline))},
  }
  if evaluation_uri and os.path.isdir(evaluation_uri):
    # As in the run summary: each AUC with its 95% interval, and no AUC for
    # a slice with one class only (TFMA's 0 there is undefined, not bad).
    metrics = evaluation.load_metrics_with_intervals(evaluation_uri)
    result['metrics'] = metrics['candidate']
    if 'baseline' in metrics:
      result['baseline_metrics'] = metrics['baseline']
    if 'diff' in metrics:
      result['diff'] = metrics['diff']
    result['validation'] = evaluation.validation(evaluation_uri)
  found = judgement(graph, judge)
  if found:
    result['judgement'] = found
    result['thresholds'] = found.get('rules', result['thresholds'])
    result['validation'] = {'ok': bool(found['blessed']),
                            'failures': [] if found['blessed']
                                        else [found['reason']]}
  return result


def _run_id(graph, execution) -> Optional[str]:
  run = graph.run_of(execution) if execution else None
  return run.name if run else None


def git_version(repo_root: str) -> Dict[str, Any]:
  """Commit and dirty flag of the code now (read-only git commands)."""
  env = dict(os.environ, GIT_OPTIONAL_LOCKS='0')  # never rewrite the index

  def git(*args):
    return subprocess.run(['git', '-C', repo_root, *args], env=env,
                          capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()
  try:
    commit = git('rev-parse', 'HEAD')
    dirty = bool(git('status', '--porcelain', '--untracked-files=no'))
  except (OSError, subprocess.SubprocessError):
    return {'commit': None, 'dirty': None}
  return {'commit': commit, 'dirty': dirty}


def code_version(repo_root: str, recorded_fingerprint: Optional[str]):
  """Git state and component hashes now, against what the Trainer recorded."""
  files = {name: project_paths.file_sha256(
      os.path.join(project_paths.COMPONENTS_DIR, name))
           for name in project_paths.components_files()}
  now = project_paths.code_fingerprint()
  return {'git_now': git_version(repo_root),
          'code_fingerprint_recorded': recorded_fingerprint,
          'code_fingerprint_now': now,
          'components_unchanged': (None if not recorded_fingerprint
                                   else recorded_fingerprint == now),
          'components_sha256_now': files}


def model_lineage(graph: metadata_graph.Graph, model) -> Dict[str, Any]:
  """Everything upstream of a Model: data, schema, transform, training."""
  trainer = graph.producer(model)
  out = {'model': {'id': model.id, 'uri': model.uri},
         'run_id': _run_id(graph, trainer)}
  transformed = graph.input(trainer, 'examples')
  transform_graph = graph.input(trainer, 'transform_graph')
  transform = graph.producer(transform_graph) if transform_graph else None
  if transform:
    out['transform'] = {
        'execution': transform.id, 'graph_uri': transform_graph.uri,
        'preprocessing_fn': metadata_graph.prop(transform, 'preprocessing_fn'),
        'transformed_examples_uri': transformed.uri if transformed else None}
    window = sorted(graph.inputs(transform).get('examples', []),
                    key=lambda raw: metadata_graph.prop(raw, 'span') or 0)
    if window:
      # Every span the model learned from (a rolling window holds several;
      # a feedback span among them names its file); 'data' is the newest.
      out['window'] = [data_lineage(graph, raw) for raw in window]
      out['data'] = out['window'][-1]
  schema = graph.input(trainer, 'schema')
  if schema:
    out['schema'] = schema_lineage(graph, schema)
  out['hyperparameters'] = hyperparameters(graph, trainer)
  out['training'] = training(graph, trainer)
  return out


def blessing_evaluation(graph: metadata_graph.Graph,
                        blessing) -> Optional[Dict[str, Any]]:
  """The evaluation behind a blessing: the judge's verdict and the metrics of
  the Evaluator of its run (or the Evaluator's own blessing, before the
  judge)."""
  producer = graph.producer(blessing)
  judge = producer if graph.node_id(producer) == JUDGE_NODE else None
  evaluator = evaluator_of(graph, judge) if judge else producer
  return evaluation_lineage(graph, evaluator, judge) if evaluator else None


def pushed_evaluation(graph: metadata_graph.Graph,
                      version: str) -> Optional[Dict[str, Any]]:
  """The evaluation a pushed version was blessed on (None: unknown version),
  without the rest of its lineage (no file hashes, no training logs)."""
  try:
    pushed = find_pushed(graph, version)
  except LineageError:
    return None
  blessing = graph.input(graph.producer(pushed), 'model_blessing')
  return blessing_evaluation(graph, blessing) if blessing else None


def trace(graph: metadata_graph.Graph, pushed,
          repo_root: str = project_paths.REPO_ROOT) -> Dict[str, Any]:
  """The full lineage of one PushedModel."""
  pusher = graph.producer(pushed)
  model = graph.input(pusher, 'model')
  blessing = graph.input(pusher, 'model_blessing')
  out = {'push': {
      'version': str(metadata_graph.prop(pushed, 'pushed_version')),
      'destination': metadata_graph.prop(pushed, 'pushed_destination'),
      'pushed_at': iso_time(pusher.last_update_time_since_epoch),
      'pusher_execution': pusher.id,
      'run_id': _run_id(graph, pusher)}}
  out.update(model_lineage(graph, model))
  out['analysis'] = analysis_of_model(graph, model)
  if blessing:
    out['blessing'] = {'id': blessing.id, 'uri': blessing.uri,
                       'blessed': bool(metadata_graph.prop(blessing,
                                                           'blessed'))}
    found = blessing_evaluation(graph, blessing)
    if found:
      out['evaluation'] = found
  recorded = (out['training'].get('custom_config') or {}).get(
      'code_fingerprint')
  out['code'] = code_version(repo_root, recorded)
  return out


def lineage_of_version(location: metadata_graph.Location,
                       version: Optional[str] = None,
                       graph: Optional[metadata_graph.Graph] = None
                       ) -> Dict[str, Any]:
  """The lineage of a pushed version (default the latest) in a store.

  Raises:
    store.NoMetadataError: no ML Metadata at the location (store.open_store).
    LineageError: nothing pushed, or not that version.
  """
  graph = graph or metadata_graph.Graph.open(location)
  return trace(graph, find_pushed(graph, version))
