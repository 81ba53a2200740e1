"""How the pipeline's cost grows with its input: 15k to 500k generated rows.

`python -m benchmarks.bench_scaling` (`make bench-scaling`) runs the pipeline
(`python -m pipeline run`, defaults: Tuner on) once per size, each in a fresh
output folder and as its own process tree, and records per run: wall time,
wall time per component (from ML Metadata), rows/s, the peak resident memory
of the process tree, the eval AUC and the best achievable AUC on the same
eval rows (the generator's true probabilities). The run helpers are
`bench_pipeline`'s, so both benchmarks measure the same way.

`--beam-workers-modes default 1` also runs each size with `--beam-workers 1`
(the DirectRunner in-process) next to the default multi-processing, to find
where multi-processing starts to pay for its worker start-up (issue 14,
item 2).

Each invocation merges its runs into benchmarks/results/scaling.json (a run
of one size replaces that size's earlier entry), then refits, per component
and for the whole run, wall seconds = a + b * rows over every size present:
`a` is the fixed cost (processes, imports, graph tracing, ML Metadata), `b`
the per-row cost. So the sizes can run one at a time (`--sizes 150000`).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Sequence

import numpy as np

from benchmarks import bench_pipeline

RESULTS = os.path.join(bench_pipeline.REPO, 'benchmarks', 'results',
                       'scaling.json')
SIZES = (15_000, 50_000, 150_000, 500_000)
TARGETS = {'peak_rss_mb_at_500000_rows': 8192,
           'time_500000_over_time_50000': 8.0,
           'auc_gap_at_15000_rows': 0.02, 'auc_gap_at_500000_rows': 0.01}


def run_key(rows: int, mode: str) -> str:
  """The JSON key of one run: rows_15000 (default workers), rows_15000_workers_1."""
  return f'rows_{rows}' if mode == 'default' else f'rows_{rows}_workers_{mode}'


def linear_fit(sizes: Sequence[int], seconds: Sequence[float]) -> Dict:
  """Least-squares seconds = a + b * rows; a, b per 100k rows, worst residual."""
  x = np.asarray(sizes, dtype=float)
  y = np.asarray(seconds, dtype=float)
  b, a = np.polyfit(x, y, 1)
  residual = y - (a + b * x)
  return {'fixed_seconds': round(float(a), 1),
          'seconds_per_100k_rows': round(float(b) * 1e5, 1),
          'max_residual_seconds': round(float(np.abs(residual).max()), 1),
          'sizes': [int(s) for s in sizes]}


def fits(runs: Dict[str, Dict], mode: str = 'default') -> Dict[str, Dict]:
  """a + b * rows per component and overall, over the runs of one Beam mode."""
  by_size = {r['rows']: r for r in runs.values()
             if r.get('beam_workers') == mode and r['returncode'] == 0}
  sizes = sorted(by_size)
  if len(sizes) < 2:
    return {}
  out = {'total': linear_fit(sizes, [by_size[s]['wall_seconds']
                                     for s in sizes])}
  names = [c for c in by_size[sizes[0]]['components_seconds']
           if all(c in by_size[s]['components_seconds'] for s in sizes)]
  for name in names:
    out[name] = linear_fit(sizes, [by_size[s]['components_seconds'][name]
                                   for s in sizes])
  outside = [by_size[s]['wall_seconds'] -
             sum(by_size[s]['components_seconds'].values()) for s in sizes]
  out['outside_components'] = linear_fit(sizes, outside)
  return out


def workers_comparison(runs: Dict[str, Dict]) -> Dict[str, Dict]:
  """Per size and explicit worker count: its seconds minus the default's.

  The default chooses by size (in-process up to 75,000 rows), so at 15,000
  and 50,000 rows `--beam-workers 2` shows what multi-processing would cost
  there, and at 150,000 `--beam-workers 1` what in-process would.
  """
  out = {}
  for run in runs.values():
    mode = run.get('beam_workers')
    if mode == 'default':
      continue
    default = runs.get(run_key(run['rows'], 'default'))
    if not default:
      continue
    other, chosen = run['components_seconds'], default['components_seconds']
    out.setdefault(str(run['rows']), {})[f'workers_{mode}'] = {
        'wall_seconds': {f'workers_{mode}': run['wall_seconds'],
                         'default': default['wall_seconds']},
        'peak_rss_mb': {f'workers_{mode}': run['peak_rss_mb'],
                        'default': default['peak_rss_mb']},
        'minus_default_seconds': {
            name: round(other[name] - chosen[name], 1)
            for name in other if name in chosen and
            max(other[name], chosen[name]) >= 1.0}}
  return out


def bench_one(work: str, rows: int, seed: int, mode: str,
              extra: List[str]) -> Dict:
  """One run of the pipeline at `rows`, `mode` 'default' or a worker count."""
  flags = list(extra) + ([] if mode == 'default' else ['--beam-workers', mode])
  load_before = round(os.getloadavg()[0], 2)
  result = bench_pipeline.bench_ours(
      work, rows, seed, flags, out=os.path.join(work, run_key(rows, mode)),
      label=f'_{mode}')
  result['beam_workers'] = mode
  result['pipeline_args'] = flags
  # The machine is shared: other work running alongside inflates the times.
  result['load_average_1min'] = {'before': load_before,
                                 'after': round(os.getloadavg()[0], 2)}
  return result


def load(path: str) -> Dict:
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return {}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--beam-workers-modes', nargs='+', default=['default'],
                      help="'default' and/or worker counts (1 = in-process)")
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--out', default=RESULTS)
  parser.add_argument('extra', nargs='*',
                      help='extra flags for `pipeline run` (after --)')
  args = parser.parse_args(argv)
  results = load(args.out)
  runs = results.setdefault('runs', {})
  for rows in args.sizes:
    for mode in args.beam_workers_modes:
      work = tempfile.mkdtemp(prefix='bench_scaling_')
      try:
        run = bench_one(work, rows, args.seed, mode, args.extra)
      finally:
        shutil.rmtree(work, ignore_errors=True)
      print(f'{run_key(rows, mode)}:', json.dumps(run), flush=True)
      runs[run_key(rows, mode)] = run
      _write(args.out, results)  # After each run: a long sweep keeps its part.
  return 0


def _write(path: str, results: Dict) -> None:
  results['machine'] = bench_pipeline.machine()
  results['targets'] = TARGETS
  results['fits'] = fits(results['runs'])
  results['beam_workers_comparison'] = workers_comparison(results['runs'])
  default = {r['rows']: r for r in results['runs'].values()
             if r.get('beam_workers') == 'default'}
  if 500_000 in default and 50_000 in default:
    results['time_500000_over_time_50000'] = round(
        default[500_000]['wall_seconds'] / default[50_000]['wall_seconds'], 2)
  bench_pipeline.write_results(path, results)


if __name__ == '__main__':
  sys.exit(main())
