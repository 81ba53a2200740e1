"""`pipeline feedback`: outcomes joined with the requests they answer.

Labels arrive later, keyed by the export's `Complaint ID`; the server's
request log carries that ID with the features as they were served. Joined,
they are (1) the served model's live performance, next to what it scored on
its eval split when it was trained, and (2) a new labelled span of the
pipeline's input, of the features as served, so a retrained model learns
from what serving saw. Nothing is dropped silently: unmatched IDs, repeated
labels, conflicting labels and requests logged more than once are counted
and reported; a labels file that cannot be used changes nothing on disk.
"""

import collections
import dataclasses
import os
from typing import Any, Dict, List, Optional

import numpy as np

from components import features
from data import metrics as data_metrics
from pipeline import input_data
from pipeline import paths as project_paths
from pipeline.metadata import lineage
from pipeline.metadata import store
from pipeline.monitoring import ab_test
from pipeline.monitoring import prediction_logs
from pipeline.monitoring import served_data

LABELS = {'Yes': 1, 'No': 0}   # the export's values, exactly


class FeedbackInputError(ValueError):
  """A labels file or logs that cannot be joined: one line, exit 2."""


@dataclasses.dataclass
class Labels:
  by_id: Dict[str, int]
  rows: int
  repeated: int      # the same label given again for an ID: counted once
  conflicting: int   # IDs given both labels: left out, listed in the report


def read_labels(path: str) -> Labels:
  """The labels CSV: `Complaint ID`, `Consumer disputed?` (Yes or No)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (OSError, UnicodeDecodeError, ValueError) as error:
    raise FeedbackInputError(f'cannot read the labels file {path}: '
                             f'{getattr(error, "strerror", None) or error}'
                             ) from None
  needed = [features.ID_EXPORT_COLUMN, features.LABEL_EXPORT_COLUMN]
  missing = [c for c in needed if c not in frame.columns]
  if missing:
    raise FeedbackInputError(
        f'{path} is not in the export layout: it lacks '
        + ', '.join(f'"{c}"' for c in missing) + ' (columns: '
        + ', '.join(frame.columns[:8]) + ')')
  values = frame[features.LABEL_EXPORT_COLUMN].str.strip()
  bad = sorted(set(values) - set(LABELS))
  if bad:
    raise FeedbackInputError(
        f'{path}: "{features.LABEL_EXPORT_COLUMN}" must be Yes or No; found '
        + ', '.join(repr(b) for b in bad[:5]))
  ids = frame[features.ID_EXPORT_COLUMN].str.strip()
  seen: Dict[str, List[int]] = collections.defaultdict(list)
  for complaint, value in zip(ids, values):
    seen[complaint].append(LABELS[value])
  conflicting = {c for c, given in seen.items() if len(set(given)) > 1}
  return Labels(
      {c: given[0] for c, given in seen.items() if c not in conflicting},
      len(frame),
      sum(len(given) - 1 for c, given in seen.items()
          if c not in conflicting),
      len(conflicting))


def live_performance(labels: List[int], predictions: List[float]
                     ) -> Dict[str, Any]:
  """AUC with its 95% interval, calibration, counts."""
  labels_arr = np.asarray(labels, dtype=int)
  positives = int(labels_arr.sum())
  out = {'examples': len(labels), 'disputed': positives,
         'mean_label': float(labels_arr.mean()) if len(labels) else None,
         'mean_prediction': float(np.mean(predictions)) if predictions
                            else None}
  if out['mean_label']:
    out['calibration'] = out['mean_prediction'] / out['mean_label']
  if 0 < positives < len(labels):
    auc = float(data_metrics.roc_auc(np.asarray(predictions), labels_arr))
    out['auc'] = auc
    out['auc_ci95'] = list(data_metrics.auc_confidence_interval(
        auc, positives, len(labels) - positives))
  return out


def _eval_auc(graph: store.Graph, version: str) -> Optional[Dict[str, Any]]:
  """The version's overall AUC (and interval) on its eval split, from MLMD."""
  found = lineage.pushed_evaluation(graph, version)
  if found is None:
    return None
  overall = found.get('metrics', {}).get('Overall', {})
  return {k: overall.get(k) for k in ('auc', 'auc_ci95', 'example_count')}


def join(paths: project_paths.RunPaths, labels_path: str, logs: str,
         model_name: str, write_span: bool = True,
         rule: ab_test.Rule = ab_test.Rule()) -> Dict[str, Any]:
  """Joins, reports, and writes the feedback span (all or nothing).

  With the traffic of exactly two versions (an A/B test: stable and canary
  labels), also the test's verdict (pipeline/monitoring/ab_test.py).

  Raises:
    FeedbackInputError, prediction_logs.NoLogsError, store.NoMetadataError.
  """
  labels = read_labels(labels_path)
  served = served_data.to_rows(prediction_logs.read(logs).logs, model_name)
  with_id = [row for row in served.rows if row.get(features.ID_KEY)]
  if not with_id:
    raise FeedbackInputError(
        f'none of the {len(served.rows)} logged requests under {logs} '
        'carries a complaint_id to join on (send them with serving.client '
        '--complaints)')
  # The latest logged request per (ID, version): a retry is not a new case.
  latest: Dict[tuple, Dict[str, Any]] = {}
  for row in with_id:
    latest[(row[features.ID_KEY], row[served_data.VERSION])] = row
  relogged = len(with_id) - len(latest)
  matched = [row for (complaint, _), row in latest.items()
             if complaint in labels.by_id]
  if not matched:
    raise FeedbackInputError(
        f'no Complaint ID of {labels_path} matches a logged request under '
        f'{logs} ({len(labels.by_id)} labelled IDs, {len(latest)} logged)')
  logged_ids = {complaint for complaint, _ in latest}
  graph = store.Graph.open(paths.metadata)
  versions = []
  for version in sorted({row[served_data.VERSION] for row in matched}):
    rows = [row for row in matched if row[served_data.VERSION] == version
            and served_data.PREDICTION in row]
    versions.append({
        'model_version': str(version),
        'live': live_performance([labels.by_id[r[features.ID_KEY]]
                                  for r in rows],
                                 [r[served_data.PREDICTION] for r in rows]),
        'eval': _eval_auc(graph, str(version))})
  result = {
      'labels_file': labels_path, 'logs': logs, 'model_name': model_name,
      'label_rows': labels.rows, 'labelled_ids': len(labels.by_id),
      'repeated_labels': labels.repeated,
      'conflicting_label_ids': labels.conflicting,
      'logged_requests': len(with_id), 'relogged_requests': relogged,
      'matched_ids': len({r[features.ID_KEY] for r in matched}),
      'unmatched_label_ids': len(set(labels.by_id) - logged_ids),
      'logged_ids_without_label': len(logged_ids - set(labels.by_id)),
      'versions': versions}
  found = ab_test.arms(matched, labels.by_id, features.ID_KEY,
                       served_data.VERSION, served_data.LABEL,
                       served_data.PREDICTION)
  if found:
    result['ab_test'] = ab_test.verdict(*found, rule)
  if write_span:
    result['span'] = _write_span(paths, matched, labels.by_id)
  return result


def _write_span(paths, matched, by_id) -> Dict[str, Any]:
  """The joined rows as the next span of the pipeline's input."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  newest: Dict[str, Dict[str, Any]] = {}
  for row in matched:  # one row per complaint: the newest version's request
    current = newest.get(row[features.ID_KEY])
    if current is None or row[served_data.VERSION] >= current[
        served_data.VERSION]:
      newest[row[features.ID_KEY]] = row
  export = pd.DataFrame([
      {features.ID_EXPORT_COLUMN: complaint,
       **{column: row.get(key, '') for column, key in
          features.EXPORT_TO_FEATURE.items()},
       features.LABEL_EXPORT_COLUMN: 'Yes' if by_id[complaint] else 'No'}
      for complaint, row in sorted(newest.items())])
  frame = cfpb_export.to_pipeline_frame(export, include_label=True)
  span = (input_data.latest_span(paths.input_root) or 0) + 1
  path = os.path.join(paths.input_root, f'span-{span}', input_data.INPUT_FILE)
  cfpb_export.write_pipeline_csv(frame, path)
  return {'span': span, 'path': path, 'rows': len(frame)}
