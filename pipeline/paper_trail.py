"""After a run: its HTML report, and a model card for the model it pushed.

Documentation must never fail a run that trained and pushed: an error here
is reported on stderr and the run's exit code stays as it was.
"""

import os
import sys
import traceback
from typing import Any, Dict, Optional


def write(paths, summary: Dict[str, Any],
          data_source: Optional[str] = None) -> None:
  """Writes both; adds their paths to the summary (report, model_card)."""
  from pipeline import html_report, lineage, metadata_graph, model_card, runner  # pylint: disable=g-import-not-at-top
  if not summary.get('run_id'):
    return
  try:
    summary['report'] = html_report.write(paths, summary['run_id'])
  except Exception:  # pylint: disable=broad-except
    print('warning: could not write the run report:\n' +
          traceback.format_exc(limit=3), file=sys.stderr)
  push = summary.get('push') or {}
  version_dir = push.get('destination') or ''
  # Never create a version folder: only annotate a SavedModel that is there.
  if not push.get('pushed') or not os.path.isfile(
      os.path.join(version_dir, 'saved_model.pb')):
    return
  try:
    graph = metadata_graph.Graph(
        metadata_graph.open_store(paths.metadata_path))
    trail = lineage.trace(graph, lineage.find_pushed(graph, push['version']),
                          runner.REPO_ROOT)
    generated = None if not data_source else os.path.abspath(
        data_source).startswith(runner.GENERATED_DIR + os.sep)
    model_name = os.path.basename(os.path.dirname(version_dir))
    summary['model_card'] = model_card.write(version_dir, model_card.render(
        trail, model_name, data_source, generated))
  except Exception:  # pylint: disable=broad-except
    print('warning: could not write the model card:\n' +
          traceback.format_exc(limit=3), file=sys.stderr)
