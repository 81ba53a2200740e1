"""<output>/reports/index.html: every run of one output folder, linked.

Rewritten after every run from ML Metadata; static and self-contained like
the run reports, with relative links, so the whole reports/ folder can be
copied or archived and still works offline.
"""

import os
from typing import Any, Dict, List

from pipeline import paths as project_paths
from pipeline.metadata import runs
from pipeline.metadata import store
from pipeline.reports import formatting
from pipeline.reports import html_table
from pipeline.reports import model_card
from pipeline.reports import run_report

INDEX_FILE = 'index.html'
_e = html_table.escape


def index_path(paths: project_paths.RunPaths) -> str:
  return os.path.join(paths.reports_dir, INDEX_FILE)


def _link(href: str, text: str) -> str:
  return f'<a href="{_e(href)}">{_e(text)}</a>'


def _row(paths: project_paths.RunPaths, run: Dict[str, Any]) -> List[str]:
  data = run.get('data') or {}
  rows = sum((data.get('rows_per_split') or {}).values())
  report = run_report.report_name(run['run_id'])
  links = [_link(report, 'report')] if os.path.exists(
      os.path.join(paths.reports_dir, report)) else []
  destination = run.get('pushed_destination')
  if destination and os.path.exists(model_card.card_path(destination)):
    links.append(_link(os.path.relpath(model_card.card_path(destination),
                                       paths.reports_dir), 'model card'))
  database = (f' --metadata {paths.metadata}' if paths.metadata.is_mysql
              else '')  # without its password
  lineage = (f'python -m pipeline lineage --output {paths.output}{database} '
             f"--version {run['pushed_version']}" if run['pushed_version']
             else '')
  blessed = run.get('blessed')
  return [str(run['index']), _e(run['run_id']), _e(run['status']),
          _e(data.get('span', '-')), _e(f'{rows:,}' if rows else '-'),
          _e(formatting.number(runs.overall_auc(run))),
          _e('-' if blessed is None else formatting.number(blessed)),
          _e(run['pushed_version'] or '-'),
          ' '.join(links) + (f'<br><code>{_e(lineage)}</code>'
                             if lineage else '')]


def render(paths: project_paths.RunPaths,
           listed: List[Dict[str, Any]]) -> str:
  """The index page: newest run first."""
  header = ['#', 'run', 'status', 'span', 'rows', 'AUC', 'blessed',
            'pushed version', 'links']
  body = ['<tr>' + ''.join(f'<th>{h}</th>' for h in header) + '</tr>']
  for run in reversed(listed):
    body.append('<tr>' + ''.join(f'<td>{cell}</td>'
                                 for cell in _row(paths, run)) + '</tr>')
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<title>Runs of {_e(paths.output)}</title>'
          f'<style>{run_report.STYLE}</style></head><body>\n'
          f'<h1>Runs of <code>{_e(paths.output)}</code></h1>\n'
          f'<p class="note">{len(listed)} runs, newest first, from ML '
          'Metadata. AUC: overall, on the eval split.</p>\n'
          '<table id="runs">' + '\n'.join(body) + '</table>\n</body></html>\n')


def write(paths: project_paths.RunPaths, graph: store.Graph) -> str:
  """Rewrites the index from every run in the store; returns its path."""
  path = index_path(paths)
  run_report.write_text(path, render(paths, runs.list_runs(
      paths.metadata, graph)))
  return path
