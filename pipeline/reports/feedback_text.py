"""Feedback joined with served traffic, as text (`pipeline feedback`)."""

from typing import Any, Dict

from pipeline.reports import formatting

_n = formatting.number


def render(result: Dict[str, Any]) -> str:
  key = result.get('join_key', 'complaint_id')
  metric = next((v['live'].get('metric') for v in result['versions']),
                None) or 'AUC'
  lines = ['', '=== feedback ===',
           f"labels: {result['labels_file']} ({result['label_rows']:,} rows, "
           f"{result['labelled_ids']:,} keys; {result['repeated_labels']} "
           f"repeated, {result['conflicting_label_ids']} keys with two "
           'labels left out)',
           f"logged: {result['logged_requests']:,} requests with a "
           f"{key} ({result['relogged_requests']} logged again for "
           'the same key and version: counted once)',
           f"joined: {result['matched_ids']:,} rows; "
           f"{result['unmatched_label_ids']:,} labels match no logged "
           f"request, {result['logged_ids_without_label']:,} logged "
           'rows have no label yet']
  if result.get('unmatched_note'):
    lines.append(f"  {result['unmatched_note']}")
  lines.append('%-12s %8s %10s %14s %12s %12s' % (
      'version', 'examples', metric, f'{metric} 95% CI',
      'calibration' if metric == 'AUC' else 'accuracy', f'eval {metric}'))
  for version in result['versions']:
    live, ev = version['live'], version['eval'] or {}
    lines.append('%-12s %8s %10s %14s %12s %12s' % (
        version['model_version'], _n(live['examples']), _n(live.get('auc')),
        _n(live.get('auc_ci95')),
        _n(live.get('calibration', live.get('accuracy'))),
        _n(ev.get('auc'))))
  ab = result.get('ab_test')
  if ab:
    lines.append(f"A/B test: stable {ab['stable']['model_version']} "
                 f"against canary {ab['canary']['model_version']}, each on "
                 'its own traffic')
    for arm in ('stable', 'canary'):
      found = ab[arm]
      lines.append(f"  {arm:<6} {found['model_version']:<12} "
                   f"{found['examples']:,} requests, {metric} "
                   f"{_n(found.get('auc'))} ({_n(found.get('auc_ci95'))})"
                   + (f", calibration {_n(found.get('calibration'))}"
                      if 'calibration' in found else ''))
    lines.append(f"verdict: {ab['verdict']} ({ab['reason']})")
    if ab.get('rows_needed_per_version'):
      lines.append(f"  about {ab['rows_needed_per_version']:,} labelled "
                   'requests per version would settle it')
    if ab['verdict'] == 'promote':
      lines.append('  promote: python -m serving.promote --model_config_file '
                   "<the server's models.config> --model_name "
                   f"{result['model_name']}")
  span = result.get('span')
  if span:
    lines.append(f"new span {span['span']}: {span['rows']:,} rows of the "
                 f"features as served -> {span['path']}")
  return '\n'.join(lines)
