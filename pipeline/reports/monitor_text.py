"""A monitoring window as text (what `pipeline monitor` prints)."""

from typing import Any, Dict

from pipeline.reports import formatting


def render(result: Dict[str, Any]) -> str:
  lines = ['', '=== monitoring window ===',
           f"logs: {result['logs']} ({result['files']} files, "
           f"{result['records']} records, {result['requests']} requests)"]
  if result['damaged_files']:
    lines.append(f"damaged: {len(result['damaged_files'])} file(s), "
                 f"{result['unreadable_bytes']:,} bytes unreadable (the "
                 'records before the damage were used)')
  for version in result['versions']:
    lines.append(f"model version {version['model_version']} (trained in run "
                 f"{version['trained_in_run']}): {version['requests']} "
                 'requests')
    if version.get('attribution_note'):
      lines.append(f"  attribution drift not judged: {version['attribution_note']}")
  previous = result.get('previous_window')
  lines.append('drift against the previous window: ' + (
      f'window {previous}' if previous else 'none (first window)'))
  lines.append('%-11s %-22s %-15s %9s %9s  %s' % (
      'check', 'feature', 'measure', 'distance', 'threshold', 'alert'))
  for row in result['features']:
    lines.append('%-11s %-22s %-15s %9s %9s  %s' % (
        row['check'], row['feature'], row['measure'],
        formatting.number(row['distance']),
        formatting.number(row['threshold']),
        'ALERT' if row['alert'] else '-') + (
            '  ' + '; '.join(row['reasons']) if row.get('reasons') else ''))
  alerted = sorted({r['feature'] for r in result['features'] if r['alert']})
  lines.append('verdict: ' + ('ALERT on ' + ', '.join(alerted) if alerted
                              else 'healthy'))
  if result.get('report'):
    lines.append(f"report: {result['report']}")
  return '\n'.join(lines)
