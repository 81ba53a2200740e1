"""`pipeline feedback`: outcomes joined with the requests they answer.

Labels arrive later, keyed by the dataset spec's join key: its ID column,
or, for a spec without one, the row key
the converter derives from a row's values (data/spec_frame.py), which the
bulk client sends with each request; a labels file may carry that key as a
`row_key` column, or be the labelled CSV rows themselves (every column the
spec reads), from which the key is derived again. The label values are the
spec's classes as the CSV writes them (Yes/No, 0/1, class names). The
server's request log carries the key with the features as they were
served. Joined, they are (1) the served model's live performance by task
(live_metrics: the AUC the judge uses, or the macro one-vs-rest AUC), next
to what it scored on its eval split when it was trained, and (2) a new
labelled span of the pipeline's input, of the features as served, so a
retrained model learns from what serving saw. Nothing is dropped silently:
unmatched keys, repeated labels, conflicting labels and requests logged
more than once are counted and reported; labels whose requests are no
longer in the logs (a retention bound deletes the oldest files) are said
to be so; a labels file that cannot be used changes nothing on disk.
"""

import collections
import dataclasses
from typing import Any, Dict, List, Optional

import pandas as pd

from components import dataset_spec
from pipeline import input_data
from pipeline import paths as project_paths
from pipeline.metadata import lineage
from pipeline.metadata import store
from pipeline.monitoring import ab_test
from pipeline.monitoring import live_metrics
from pipeline.monitoring import prediction_logs
from pipeline.monitoring import served_data


class FeedbackInputError(ValueError):
  """A labels file or logs that cannot be joined: one line, exit 2."""


@dataclasses.dataclass
class Labels:
  by_id: Dict[str, int]     # join key -> class index
  raw: Dict[str, str]       # join key -> the label as the file wrote it
  rows: int
  repeated: int      # the same label given again for a key: counted once
  conflicting: int   # keys given two labels: left out, listed in the report
  unlabelled: int = 0   # rows whose label is empty


def _label_values(spec: dataset_spec.DatasetSpec) -> str:
  label = spec.label
  if label.task == dataset_spec.BINARY:
    others = [c for c in label.classes if c != label.positive]
    return ' or '.join([label.positive] + others)
  return 'one of ' + ', '.join(label.classes)


def _join_keys(frame: pd.DataFrame, spec: dataset_spec.DatasetSpec,
               path: str) -> pd.Series:
  """Each labelled row's join key, as the pipeline and the logs write it."""
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  if spec.id_column:
    if spec.id_column not in frame.columns:
      raise FeedbackInputError(
          f'{path} lacks the column "{spec.id_column}" (the ID that labels '
          f'are joined on) beside "{spec.label.column}"; its columns: '
          + ', '.join(frame.columns[:8]))
    return frame[spec.id_column].str.strip()
  if dataset_spec.ROW_KEY in frame.columns:
    return frame[dataset_spec.ROW_KEY].str.strip()
  missing = [c for c in spec.columns if c not in frame.columns]
  if missing:
    raise FeedbackInputError(
        f'{path} lacks "{dataset_spec.ROW_KEY}" and the column(s) '
        + ', '.join(f'"{c}"' for c in missing[:5]) + ' to derive it from: '
        'give the row key the bulk client sent, or the labelled rows as '
        'the CSV holds them')
  return spec_frame.row_keys(frame, spec).astype(str)


def read_labels(path: str, spec: dataset_spec.DatasetSpec) -> Labels:
  """The labels CSV: the join key (see the module docstring) and the
  spec's label column, in its classes; an empty label is not one yet."""
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (OSError, UnicodeDecodeError, ValueError) as error:
    raise FeedbackInputError(f'cannot read the labels file {path}: '
                             f'{getattr(error, "strerror", None) or error}'
                             ) from None
  if spec.label.column not in frame.columns:
    raise FeedbackInputError(
        f'{path} lacks the label column "{spec.label.column}" of the '
        f'dataset spec {spec.name}; its columns: '
        + ', '.join(frame.columns[:8]))
  keys = _join_keys(frame, spec, path)
  values = frame[spec.label.column].str.strip()
  given = values != ''
  indices = values[given].map(spec.label.index_of)
  bad = sorted(set(values[given][indices.isna()]))
  if bad:
    raise FeedbackInputError(
        f'{path}: "{spec.label.column}" must be {_label_values(spec)}; '
        'found ' + ', '.join(repr(b) for b in bad[:5]))
  seen: Dict[str, List[int]] = collections.defaultdict(list)
  raw: Dict[str, str] = {}
  for key, index, value in zip(keys[given], indices, values[given]):
    seen[key].append(int(index))
    raw.setdefault(key, value)
  conflicting = {k for k, found in seen.items() if len(set(found)) > 1}
  return Labels(
      {k: found[0] for k, found in seen.items() if k not in conflicting},
      {k: v for k, v in raw.items() if k not in conflicting},
      int(given.sum()),
      sum(len(found) - 1 for k, found in seen.items()
          if k not in conflicting),
      len(conflicting), int((~given).sum()))


def _eval_auc(graph: store.Graph, version: str) -> Optional[Dict[str, Any]]:
  """The version's figure on its eval split, from MLMD: the judge's (the
  metric it blessed on, with its interval), else the Evaluator's AUC."""
  found = lineage.pushed_evaluation(graph, version)
  if found is None:
    return None
  judged = found.get('judgement') or {}
  overall = found.get('metrics', {}).get('Overall', {})
  if 'candidate_auc' in judged:
    return {'auc': judged['candidate_auc'],
            'auc_ci95': judged.get('candidate_auc_ci95'),
            'example_count': judged.get('eval_rows',
                                        overall.get('example_count')),
            'metric': judged.get('metric', 'AUC')}
  return {k: overall.get(k) for k in ('auc', 'auc_ci95', 'example_count')}


def _logs_gone(logs: str, labelled: int) -> str:
  return (f'none of the {labelled:,} labelled keys matches a request logged '
          f'under {logs}: their requests were never logged there, or their '
          'log files are gone (a retention bound deletes the oldest: see '
          "serving/README.md's request logging)")


def join(paths: project_paths.RunPaths, labels_path: str, logs: str,
         model_name: str, write_span: bool = True,
         rule: ab_test.Rule = ab_test.Rule(),
         spec: Optional[dataset_spec.DatasetSpec] = None) -> Dict[str, Any]:
  """Joins, reports, and writes the feedback span (all or nothing).

  With the traffic of exactly two versions (an A/B test: stable and canary
  labels), also the test's verdict (pipeline/monitoring/ab_test.py).
  spec: the data set (None: the default one, datasets/cfpb.yaml).

  Raises:
    FeedbackInputError, prediction_logs.NoLogsError, store.NoMetadataError.
  """
  spec = spec or dataset_spec.load(dataset_spec.DEFAULT)
  key = spec.join_key
  labels = read_labels(labels_path, spec)
  try:
    read = prediction_logs.read(logs)
  except prediction_logs.NoLogsError as error:
    raise prediction_logs.NoLogsError(
        f'{error}: the requests these labels answer are not there (never '
        'logged, or deleted by a retention bound)') from None
  served = served_data.to_rows(read.logs, model_name, spec)
  with_key = [row for row in served.rows
              if row.get(key) not in (None, '')]
  if not with_key:
    raise FeedbackInputError(
        f'none of the {len(served.rows)} logged requests under {logs} '
        f'carries a {key} to join on (send them with the bulk client: '
        'python -m serving.client --dataset ... --rows FILE.csv)')
  # The latest logged request per (key, version): a retry is not a new case.
  latest: Dict[tuple, Dict[str, Any]] = {}
  for row in with_key:
    latest[(str(row[key]), row[served_data.VERSION])] = row
  relogged = len(with_key) - len(latest)
  matched = [row for (row_key, _), row in latest.items()
             if row_key in labels.by_id]
  if not matched:
    raise FeedbackInputError(_logs_gone(logs, len(labels.by_id)))
  for row in matched:
    row[key] = str(row[key])
  logged_keys = {row_key for row_key, _ in latest}
  graph = store.Graph.open(paths.metadata)
  versions = []
  for version in sorted({row[served_data.VERSION] for row in matched}):
    rows = [row for row in matched if row[served_data.VERSION] == version
            and served_data.PREDICTION in row]
    versions.append({
        'model_version': str(version),
        'live': live_metrics.performance(
            [labels.by_id[r[key]] for r in rows],
            [r[served_data.PREDICTION] for r in rows],
            spec.label.classes if spec.multiclass else ()),
        'eval': _eval_auc(graph, str(version))})
  unmatched = len(set(labels.by_id) - logged_keys)
  result = {
      'dataset': spec.name, 'join_key': key,
      'labels_file': labels_path, 'logs': logs, 'model_name': model_name,
      'label_rows': labels.rows, 'labelled_ids': len(labels.by_id),
      'unlabelled_rows': labels.unlabelled,
      'repeated_labels': labels.repeated,
      'conflicting_label_ids': labels.conflicting,
      'logged_requests': len(with_key), 'relogged_requests': relogged,
      'log_files': len(read.files),
      'matched_ids': len({r[key] for r in matched}),
      'unmatched_label_ids': unmatched,
      'logged_ids_without_label': len(logged_keys - set(labels.by_id)),
      'versions': versions}
  if unmatched:
    result['unmatched_note'] = (
        f'{unmatched:,} labelled keys match no logged request: sent to '
        'another server, never sent, or their log files are gone (a '
        'retention bound deletes the oldest)')
  found = ab_test.arms(matched, labels.by_id, key, served_data.VERSION,
                       served_data.LABEL, served_data.PREDICTION)
  if found:
    result['ab_test'] = ab_test.verdict(*found, rule)
  if write_span:
    result['span'] = _write_span(paths, matched, labels, spec)
  return result


def _newest_per_key(matched, key: str) -> Dict[str, Dict[str, Any]]:
  """One row per key: the newest version's request."""
  newest: Dict[str, Dict[str, Any]] = {}
  for row in matched:
    current = newest.get(row[key])
    if current is None or row[served_data.VERSION] >= current[
        served_data.VERSION]:
      newest[row[key]] = row
  return newest


def _write_span(paths, matched, labels: Labels,
                spec: dataset_spec.DatasetSpec) -> Dict[str, Any]:
  """The joined rows as the next span of the pipeline's input, in the
  spec's columns (the default data set's as its ingestion converts them,
  input_data.add_export_span)."""
  newest = _newest_per_key(matched, spec.join_key)
  if dataset_spec.is_default(spec):
    return _write_export_span(paths, newest, labels, spec)
  frame = pd.DataFrame([
      {spec.join_key: row_key,
       **{f.key: row.get(f.key) for f in spec.features},
       spec.label.key: labels.by_id[row_key]}
      for row_key, row in sorted(newest.items())])
  return input_data.add_span(frame, paths.input_root,
                             input_data.SPEC_INPUT_FILE)


def _write_export_span(paths, newest, labels: Labels,
                       spec: dataset_spec.DatasetSpec) -> Dict[str, Any]:
  export = pd.DataFrame([
      {spec.id_column: row_key,
       **{f.column: row.get(f.key, '') for f in spec.features},
       spec.label.column: labels.raw[row_key]}
      for row_key, row in sorted(newest.items())])
  return input_data.add_export_span(export, paths.input_root)
