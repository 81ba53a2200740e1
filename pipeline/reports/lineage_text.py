"""The lineage of a pushed model as text (`pipeline lineage`), upstream first."""

import json
from typing import Any, Dict

from components import stack
from pipeline.reports import analysis_text
from pipeline.reports import formatting


def render(t: Dict[str, Any]) -> str:
  """The lineage as text, upstream first."""
  push, data = t['push'], t.get('data', {})
  lines = [f"=== lineage of pushed version {push['version']} ===",
           f"push: {push['destination']} at {push['pushed_at']} "
           f"(run {push['run_id']})"]
  lines.append(f"data: span {data.get('span')}, ingested "
               f"{data.get('ingested_at')}")
  for f in data.get('files', []):
    lines.append(f"  file {f['path']} ({f['bytes']} bytes)")
    lines.append(f"  sha256 {f['sha256']}")
  if not data.get('files'):
    lines.append('  file: not on disk any more')
  for src in data.get('sources', []):
    lines.append(f"  dvc: {src['path']} at {src['rev']} (commit "
                 f"{src['commit'][:12]}) of {src['repo']}")
    lines.append(f"       DVC hash {src['dvc_md5']} ({src['dvc_file']}), "
                 f"sha256 {src['sha256']}")
  if data.get('unchanged_since_ingestion') is False:
    lines.append('  WARNING: the file changed since it was ingested')
  for older in t.get('window', [])[:-1]:
    lines.append(f"  also trained on span {older.get('span')} (the rolling "
                 'window): ' + (', '.join(f['path'] for f in older.get(
                     'files', [])) or 'not on disk any more'))
  rows = data.get('rows_per_split', {})
  lines.append('  rows per split: ' + (', '.join(
      f'{k} {v}' for k, v in rows.items()) or 'unknown'))
  lines.append(f"  statistics: {data.get('statistics', {}).get('uri')}")
  anomalies = data.get('anomalies', {})
  found = anomalies.get('found')
  lines.append(f"  anomalies: {anomalies.get('uri')} -> " + (
      'not on disk any more' if found is None else 'none' if not found
      else json.dumps(found)))
  schema = t.get('schema') or data.get('schema') or {}
  lines.append(f"schema: {schema.get('uri')} (from "
               f"{schema.get('source_file')})")
  transform = t.get('transform', {})
  lines.append(f"transform: {transform.get('preprocessing_fn')} -> "
               f"{transform.get('graph_uri')}")
  hp = t['hyperparameters']
  lines.append('hyperparameters: ' + ', '.join(
      f'{k}={formatting.number(v)}' for k, v in sorted(hp['values'].items())) +
               f" ({hp['source']})")
  tr = t['training']
  lines.append(f"training: {tr['train_steps']} train steps, "
               f"{tr['eval_steps']} eval steps, {tr['seconds']:.0f} s, "
               f"started {tr['started']}")
  lines.append(f"  stack: {stack.summary(tr.get('stack'))}")
  if tr['final']:
    lines.append(f"  last of {tr['history'].get('epochs')} epochs: " +
                 ', '.join(f'{k} {formatting.number(v)}' for k, v in
                           sorted(tr['final'].items())))
  for part, values in tr['logged'].items():
    lines.append(f'  tensorboard {part}: ' + ', '.join(
        f'{k} {formatting.number(v)}' for k, v in sorted(values.items())))
  if not tr['logged'] and not tr['final']:
    lines.append('  no loss recorded (no TensorBoard logs under model_run)')
  lines.append(f"  model: {t['model']['uri']}")
  ev = t.get('evaluation')
  if ev and 'metrics' not in ev:
    lines.append(f"evaluation: {ev['uri']} is not on disk any more")
  elif ev:
    overall = ev['metrics'].get(formatting.OVERALL, {})
    lines.append('evaluation: ' + ', '.join(
        f'{k} {formatting.number(v)}' for k, v in sorted(overall.items())))
    lines.append(f"  slices: {len(ev['metrics']) - 1} (all in --json)")
    for th in ev['thresholds']:
      lines.append(f"  threshold: {th['metric']} on {th['slice']}: "
                   f"{th['rule']}")
    baseline = ev['baseline']
    lines.append('  baseline: ' + ('none' if baseline is None else
                                   f"model {baseline['model_id']} (pushed "
                                   f"version {baseline['pushed_version']}, "
                                   f"run {baseline['run_id']})"))
    for name, value in sorted(ev.get('diff', {}).get(
        formatting.OVERALL, {}).items()):
      lines.append(f'  {name} vs baseline: {formatting.signed(value)}')
    validation = ev['validation']
    lines.append(f"  validation: {'ok' if validation.get('ok') else 'failed'}"
                 + ''.join(f'\n    {f}' for f in validation.get(
                     'failures', [])))
  lines += analysis_text.text_lines(t.get('analysis'))
  blessing = t.get('blessing')
  verdict = blessing and ('blessed' if blessing['blessed'] else 'not blessed')
  lines.append('blessing: ' + (f"{verdict} ({blessing['uri']})" if blessing
                               else 'none'))
  code = t['code']
  git = code['git_now']
  lines.append(f"code now: git {git['commit'] or 'unavailable'}"
               + (' (uncommitted changes)' if git['dirty'] else ''))
  lines.append(f"  components fingerprint at training "
               f"{code['code_fingerprint_recorded']}, now "
               f"{code['code_fingerprint_now']} -> " + (
                   'unchanged' if code['components_unchanged'] else
                   'CHANGED since training' if code['components_unchanged']
                   is False else 'unknown'))
  for name, digest in code['components_sha256_now'].items():
    lines.append(f'  components/{name} {digest}')
  return '\n'.join(lines)
