"""What one pipeline run becomes in MLflow: parameters, metrics and tags.

Pure: built from the run as `pipeline.metadata.runs.describe` reads it from
ML Metadata, so a run copied a month later (`mlflow-sync`) carries the same
values as one logged as it finished. Only what ML Metadata recorded is
sent: the settings the components ran with (the Trainer's steps and custom
config, the judge's rules, the split), not a config file that may since
have changed.
"""

import math
import re
from typing import Any, Dict, List, Optional

RUN_KEY_TAG = 'mlmd.run_id'        # the ML Metadata run id: the sync's key
SYNCED_TAG = 'mlmd.synced'         # set last: a run without it is partial
_UNSAFE = re.compile(r'[^A-Za-z0-9_\-. :/]')  # MLflow's key alphabet


def key(*parts: str) -> str:
  """An MLflow metric or parameter key (other characters become '_')."""
  return _UNSAFE.sub('_', '/'.join(str(p) for p in parts))[:250]


def _flat(prefix: str, values: Optional[Dict[str, Any]],
          out: Dict[str, str]) -> None:
  for name, value in sorted((values or {}).items()):
    if isinstance(value, dict):
      _flat(f'{prefix}.{name}', value, out)
    elif value is not None:
      out[key(f'{prefix}.{name}')] = str(value)


def params(run: Dict[str, Any],
           git_commit: Optional[str] = None) -> Dict[str, str]:
  """The settings, hyperparameters, data, code and stack of a run."""
  out: Dict[str, str] = {}
  training = run.get('training') or {}
  _flat('config', {'train_steps': training.get('train_steps'),
                   'eval_steps': training.get('eval_steps'),
                   **(training.get('custom_config') or {})}, out)
  judgement = ((run.get('evaluation') or {}).get('judgement')) or {}
  _flat('config', {k: judgement.get(k) for k in (
      'min_auc', 'significance', 'max_auc_regression')}, out)
  hp = run.get('hyperparameters') or {}
  _flat('hparams', hp.get('values'), out)
  if 'tuned' in hp:
    out['hparams.tuned'] = str(hp['tuned'])
  data = run.get('data') or {}
  _flat('data', {'span': data.get('span'), 'sha256': data.get('sha256'),
                 'rows': data.get('rows_per_split')}, out)
  for i, source in enumerate(data.get('sources') or []):
    _flat(f'data.source{i}' if i else 'data.source', {
        k: source.get(k) for k in ('path', 'sha256', 'repo', 'rev', 'commit',
                                   'dvc_md5')}, out)
  if training.get('custom_config', {}).get('code_fingerprint'):
    out['code.fingerprint'] = training['custom_config']['code_fingerprint']
  if git_commit:
    out['code.git_commit'] = git_commit
  _flat('stack', training.get('stack'), out)
  return out


def _finite(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(
      value, bool) and math.isfinite(value)


def metrics(run: Dict[str, Any], timestamp_ms: int) -> List[Dict[str, Any]]:
  """Overall and per-slice evaluation metrics with their 95% interval, and
  the training curve as steps (Keras's epochs times their steps).

  Overall metrics keep their plain name (`auc`); a slice's are
  `slice/<feature:value>/<metric>`. Undefined values (NaN: a precision
  with no positive prediction) are left out, as MLflow cannot store them.
  """
  out = []

  def add(name: str, value, step: int = 0) -> None:
    if _finite(value):
      out.append({'key': key(name), 'value': float(value),
                  'timestamp': timestamp_ms, 'step': step})
  evaluated = (run.get('evaluation') or {}).get('metrics') or {}
  for slice_name, values in sorted(evaluated.items()):
    prefix = [] if slice_name == 'Overall' else ['slice', slice_name]
    for name, value in sorted(values.items()):
      if name.endswith('_ci95') and isinstance(value, (list, tuple)):
        add(key(*prefix, f'{name}_lower'), value[0])
        add(key(*prefix, f'{name}_upper'), value[1])
      else:
        add(key(*prefix, name), value)
  history = (run.get('training') or {}).get('history') or {}
  per_epoch = history.get('steps_per_epoch') or 1
  for name, values in sorted((history.get('history') or {}).items()):
    for epoch, value in enumerate(values, start=1):
      add(f'training/{name}', value, step=epoch * per_epoch)
  return out


def tags(run: Dict[str, Any]) -> Dict[str, str]:
  """Blessed, the pushed version and the baseline, and the run's key."""
  evaluation = run.get('evaluation') or {}
  baseline = evaluation.get('baseline') or {}
  judgement = evaluation.get('judgement') or {}
  out = {RUN_KEY_TAG: run['run_id'], 'status': run.get('status', ''),
         'blessed': str(bool(run.get('blessed'))).lower(),
         'pushed_version': run.get('pushed_version') or 'none',
         'baseline': (baseline.get('pushed_version') or 'none'),
         'mlflow.note.content': judgement.get('reason', '')}
  if (run.get('data') or {}).get('sources'):
    revs = sorted({s['rev'] for s in run['data']['sources'] if s.get('rev')})
    if revs:
      out['data_rev'] = ', '.join(revs)
  return {k: v for k, v in out.items() if v != ''}
