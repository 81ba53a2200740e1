"""<output>/reports/monitor-<window>.html: one monitoring window, plotted.

Beside the run reports and as self-contained: every feature's distance and
threshold, and for each flagged feature its training and served
distributions side by side.
"""

import os
from typing import Any, Dict, List

from pipeline import paths as project_paths
from pipeline.reports import charts
from pipeline.reports import html_table
from pipeline.reports import run_report

_e = html_table.escape


def report_path(paths: project_paths.RunPaths, window: str) -> str:
  return os.path.join(paths.reports_dir, f'monitor-{window}.html')


def _shares(counts: List[float]) -> List[float]:
  total = sum(counts) or 1.0
  return [c / total for c in counts]


def _bin_labels(edges: List[float]) -> List[str]:
  labels = []
  for low, high in zip(edges[:-1], edges[1:]):
    labels.append(f'{low:.3g}-{high:.3g}' if high != float('inf')
                  else f'>{low:.3g}')
  return labels


def _histogram_labels(bins: List[Any], counts: int) -> List[str]:
  """A label per bin, for the three shapes findings carry: the CFPB
  histograms' edges (one more than the bins); a spec's numeric column's
  interior edges then its missing values' bin (two fewer: below the first
  edge, ..., from the last on, missing); a class per bin."""
  if len(bins) == counts + 1:
    return _bin_labels(bins)
  if len(bins) == counts:
    return [str(b) for b in bins]
  edges = [b for b in bins if isinstance(b, (int, float))]
  if not edges:
    return ['all'] + [str(b) for b in bins]
  labels = [f'<{edges[0]:.3g}']
  labels += [f'{low:.3g}-{high:.3g}' for low, high in zip(edges, edges[1:])]
  labels.append(f'>={edges[-1]:.3g}')
  return labels + [str(b) for b in bins if not isinstance(b, (int, float))]


def distribution_chart(finding: Dict[str, Any]) -> str:
  """Training against served, for one flagged feature ('' without data)."""
  detail = finding.get('distribution')
  if not detail:
    return ''
  if 'values' in detail:   # a categorical: the largest values' shares
    labels, a, b = detail['values'], detail['training'], detail['served']
  else:                    # a histogram: shares per bin
    a, b = _shares(detail['training']), _shares(detail['served'])
    labels = _histogram_labels(detail['bins'], len(a))
  return charts.bar_chart(
      f"{finding['feature']}: {finding['measure']} "
      f"{finding['distance']:.3f}", labels,
      [('training', a, charts.MODEL_COLOR),
       ('served', b, charts.SECOND_COLOR)])


def render(result: Dict[str, Any]) -> str:
  rows = [[r['check'], r['feature'], r['model_version'], r['measure'],
           r['distance'], r['threshold'], 'ALERT' if r['alert'] else '-']
          for r in result['features']]
  classes = ['alert' if r['alert'] else '' for r in result['features']]
  flagged = [f for version in result['versions'] for f in version['skew']
             if f['alert']]
  alerted = sorted({r['feature'] for r in result['features'] if r['alert']})
  parts = [
      f"<h1>Monitoring window {_e(result['window'])}</h1>",
      '<dl>' + ''.join(f'<dt>{_e(k)}</dt><dd>{_e(v)}</dd>' for k, v in [
          ('logs', result['logs']),
          ('records / requests', f"{result['records']:,} / "
                                 f"{result['requests']:,}"),
          ('damaged files', len(result['damaged_files'])),
          ('model versions', ', '.join(str(v['model_version'])
                                       for v in result['versions'])),
          ('previous window', result.get('previous_window') or 'none'),
          ('verdict', 'ALERT on ' + ', '.join(alerted) if alerted
           else 'healthy')]) + '</dl>',
      '<h2>Every feature</h2>',
      '<p class="note">skew: served traffic against the training data of '
      'the model version that answered it; drift: against the previous '
      'window; attribution: the change in the served model\'s mean '
      '|attribution| on this traffic against its eval split, as a share of '
      'all features\' (docs/monitoring.md); threshold: the configured one, '
      'or the sampling noise at these sizes where that is larger.</p>',
      html_table.table(['check', 'feature', 'version', 'measure', 'distance',
                        'threshold', 'alert'], rows, classes)]
  if flagged:
    parts += ['<h2>Flagged features: training and served</h2>',
              charts.side_by_side(*[c for c in map(distribution_chart,
                                                    flagged) if c])]
  style = run_report.STYLE + ' tr.alert td { color: #a8261f; }'
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f"<title>Monitoring {_e(result['window'])}</title>"
          f'<style>{style}</style></head><body>\n' + '\n'.join(parts) +
          '\n</body></html>\n')


def write(paths: project_paths.RunPaths, result: Dict[str, Any]) -> str:
  path = report_path(paths, result['window'])
  run_report.write_text(path, render(result))
  return path
