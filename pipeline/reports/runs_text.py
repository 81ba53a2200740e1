"""Past runs and two runs compared, as text (`pipeline runs`, `compare`)."""

from typing import Any, Dict, List

from pipeline.metadata import runs
from pipeline.reports import formatting


def render_runs(listed: List[Dict[str, Any]]) -> str:
  """The run list, one line per run (what `pipeline runs` prints)."""
  lines = ['%-3s %-27s %-21s %5s %7s %8s %-7s %s' % (
      '#', 'run', 'status', 'span', 'rows', 'AUC', 'blessed', 'pushed')]
  for run in listed:
    data = run.get('data', {})
    rows = sum(data.get('rows_per_split', {}).values()) or '-'
    auc = runs.overall_auc(run)
    blessed = run.get('blessed')
    lines.append('%-3s %-27s %-21s %5s %7s %8s %-7s %s' % (
        run['index'], run['run_id'], run['status'], data.get('span', '-'),
        rows, '%.4f' % auc if auc is not None else '-',
        '-' if blessed is None else ('yes' if blessed else 'no'),
        run['pushed_version'] or '-'))
    for f in data.get('files', []):
      lines.append(f"    data {f['path']}")
  return '\n'.join(lines)


def render_compare(c: Dict[str, Any]) -> str:
  """Two runs side by side (what `pipeline compare` prints)."""
  a, b = c['a'], c['b']
  lines = [f"A: #{a['index']} {a['run_id']}  {a['status']}, span {a['span']}"
           f", rows {a['rows_per_split']}",
           f"B: #{b['index']} {b['run_id']}  {b['status']}, span {b['span']}"
           f", rows {b['rows_per_split']}", '', 'hyperparameters:']
  both = all(c['trained'].values())
  for h in c['hyperparameters']:
    lines.append('  %-20s %18s %18s %s' % (
        h['name'], formatting.number(h['a']), formatting.number(h['b']),
        '<- differs' if both and not h['same'] else ''))
  if not c['hyperparameters']:
    lines.append('  neither run trained a model')
  elif not both:
    lines.append('  (%s trained no model)' % ('A' if not c['trained']['a']
                                              else 'B'))
  d = c.get('drift')
  lines.append('')
  if not d or 'missing' in d:
    lines.append('data drift: no statistics to compare' + (
        f" ({d['missing']})" if d else ''))
  else:
    drifted = [f['feature'] for f in d['features']
               if f['drifted'] and not f['within_noise']]
    noisy = [f['feature'] for f in d['features']
             if f['drifted'] and f['within_noise']]
    lines.append(f"data drift ({d['split']} split, B against A, threshold "
                 f"{d['threshold']:g}): " + (
                     'same data' if d['same_data'] else
                     ('DRIFTED: ' + ', '.join(drifted)) if drifted else
                     'no feature drifted') + (
                         f" (above the threshold but within sampling noise:"
                         f" {', '.join(noisy)})" if noisy else ''))
    lines.append('  %-20s %-15s %8s %8s %8s %8s' % (
        'feature', 'measure', 'distance', 'noise', 'values A', 'values B'))
    for f in d['features']:
      noise = f['sampling_noise']
      lines.append('  %-20s %-15s %8.4f %8s %8d %8d %s' % (
          f['feature'], f['measure'], f['distance'],
          '%.4f' % noise if noise is not None else '-', f['values_a'],
          f['values_b'], '' if not f['drifted'] else
          'DRIFT' if not f['within_noise'] else 'noise?'))
  lines += ['', 'metrics overall (B - A):']
  rows = c['metrics']
  if not rows:
    lines.append('  neither run evaluated a model')
  for r in rows:
    if r['slice'] == formatting.OVERALL:
      lines.append('  %-16s %10s %10s %10s' % (
          r['metric'], formatting.number(r['a']), formatting.number(r['b']),
          formatting.signed(r['delta'])))
  auc = {r['slice']: r for r in rows if r['metric'] == 'auc'}
  count = {r['slice']: r for r in rows if r['metric'] == 'example_count'}
  size = {name: r['b'] if r['b'] is not None else (r['a'] or 0)
          for name, r in count.items()}
  shown = [s for s in formatting.largest_slices(size, size.get) if s in auc]
  if shown:
    lines += ['', 'AUC of the largest slices (B - A; all in --json):',
              '  %-44s %6s %6s %8s %8s %8s' % ('slice', 'n A', 'n B', 'A',
                                               'B', 'delta')]
  for name in shown:
    n = count.get(name, {})
    lines.append('  %-44s %6s %6s %8s %8s %8s' % (
        name[:44], formatting.number(n.get('a')),
        formatting.number(n.get('b')), formatting.number(auc[name]['a']),
        formatting.number(auc[name]['b']),
        formatting.signed(auc[name]['delta'])))
  return '\n'.join(lines)
