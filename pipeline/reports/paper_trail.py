"""After a run: its HTML report, the run index, and the pushed model's card.

Read once from ML Metadata (one graph, one lineage trace, each data file
hashed once) and rendered three ways. Documentation must never fail a run
that trained and pushed: an error here is reported on stderr in one line
(the details go to the run's log) and the run's exit code stays as it was.
"""

import logging
import os
import sys
from typing import Any, Dict, Sequence

from pipeline import paths as project_paths
from pipeline.metadata import store
from pipeline.reports import model_card
from pipeline.reports import run_index
from pipeline.reports import run_report


def _warn(what: str, error: Exception) -> None:
  logging.getLogger(__name__).exception('could not write the %s', what)
  print(f'warning: could not write the {what}: {error}', file=sys.stderr)


def write(paths: project_paths.RunPaths, summary: Dict[str, Any],
          data_files: Sequence[str] = (), model_name: str = '',
          spec=None) -> None:
  """Writes the report, the card and the index; adds their paths to summary.

  Args:
    paths: the run's output layout.
    summary: the run summary (metadata.summary.latest_run plus run fields).
    data_files: the export files this run was given (MLMD records only the
      converted span file, not where it came from).
    model_name: the served model's name (the card's title).
    spec: the dataset spec of a data set other than CFPB (the card's prose).
  """
  if not summary.get('run_id'):
    return
  graph = store.Graph.open(paths.metadata)
  report = None
  try:
    report = run_report.build(graph, paths.output, summary['run_id'])
    summary['report'] = run_report.write(paths, report)
  except Exception as error:  # pylint: disable=broad-except
    _warn('run report', error)
  push = summary.get('push') or {}
  version_dir = push.get('destination') or ''
  # Never create a version folder: only annotate a SavedModel that is there.
  if (report and report['lineage'] and push.get('pushed') and
      os.path.isfile(os.path.join(version_dir, 'saved_model.pb'))):
    try:
      sources = [(os.path.abspath(f), project_paths.is_generated(f))
                 for f in data_files]
      summary['model_card'] = model_card.write(version_dir, model_card.render(
          report['lineage'], model_name, paths.output, sources, spec=spec))
    except Exception as error:  # pylint: disable=broad-except
      _warn('model card', error)
  # Last: it links the report and the card written above.
  try:
    summary['index'] = run_index.write(paths, graph)
  except Exception as error:  # pylint: disable=broad-except
    _warn('run index', error)

