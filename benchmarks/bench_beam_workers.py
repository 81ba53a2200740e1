"""Rows/s of the pipeline's Beam work on 1, 2 and 4 worker hosts, and equality.

`python -m benchmarks.bench_beam_workers` (`make bench-beam-workers`, as
root) runs `python -m pipeline run` on the same generated rows, each in a
fresh output folder, one after the other:
  * locally, the DirectRunner as `make run` uses it (--beam-workers, default
    the number of cores), and with one in-process worker (--beam-workers 1);
  * on a simulated cluster (deploy/beam/) of 1, 2 and 4 worker hosts, one
    SDK worker pool each, through the portable runner.
For each: the pipeline's wall time, each Beam component's (CsvExampleGen,
StatisticsGen, Transform, Evaluator; from ML Metadata), rows/s over those
four, the bytes each worker host's interface carried, and every check of
deploy.beam.equivalence against the local run.

All hosts share this machine's cores: with 2 cores, more pools than cores
add harness start-ups and network hops, not speed. What the figures show is
that the work is spread over the hosts and gives the local run's results.
Results: benchmarks/results/beam_workers.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

from benchmarks import result_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'benchmarks', 'results', 'beam_workers.json')
BEAM_COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'Transform', 'Evaluator')
POOLS = (1, 2, 4)
PREFIX = 'beambnch'
SUBNET = '10.213.251.0/24'


def run_pipeline(output: str, rows: int, train_steps: int,
                 extra: List[str]) -> Dict[str, object]:
  cmd = [sys.executable, '-m', 'pipeline', 'run', '--output', output,
         '--rows', str(rows), '--no-tune', '--train-steps', str(train_steps),
         '--json', *extra]
  started = time.time()
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                        timeout=3600)
  wall = time.time() - started
  if proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} exited {proc.returncode}: '
                       f'{proc.stderr.strip().splitlines()[-1:]}')
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  summary = summary_text.parse_json_summary(proc.stdout)
  seconds = {c['component']: round(c['seconds'], 1)
             for c in summary['components']}
  beam = sum(seconds.get(name, 0.0) for name in BEAM_COMPONENTS)
  return {'wall_seconds': round(wall, 1), 'component_seconds': seconds,
          'beam_seconds': round(beam, 1),
          'beam_rows_per_second': round(rows / beam, 1) if beam else None,
          'rows_per_split': summary.get('rows_per_split'),
          'auc': summary.get('metrics', {}).get('Overall', {}).get('auc')}


def run_on_pools(work: str, pools: int, rows: int,
                 train_steps: int) -> Dict[str, object]:
  from deploy.beam import cluster as cluster_lib  # pylint: disable=g-import-not-at-top
  from deploy.beam import settings as settings_lib  # pylint: disable=g-import-not-at-top
  settings = settings_lib.ClusterSettings(workers=pools, prefix=PREFIX,
                                          subnet=SUBNET)
  state_dir = os.path.join(work, f'cluster-{pools}')
  cluster_lib.down(state_dir, settings)
  cluster = cluster_lib.up(settings, state_dir)
  try:
    before = cluster.link_bytes()
    result = run_pipeline(os.path.join(work, f'pools-{pools}'), rows,
                          train_steps, cluster.pipeline_flags())
    after = cluster.link_bytes()
    result['link_megabytes'] = {
        host: round((after[host]['rx_bytes'] + after[host]['tx_bytes'] -
                     before[host]['rx_bytes'] - before[host]['tx_bytes'])
                    / 1e6, 1) for host in after}
    result['beam_args'] = cluster.beam_args()
  finally:
    cluster_lib.down(state_dir)
  return result


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rows', type=int, default=10_000)
  parser.add_argument('--train-steps', type=int, default=200)
  parser.add_argument('--pools', type=int, nargs='+', default=list(POOLS))
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  from deploy.beam import equivalence  # pylint: disable=g-import-not-at-top
  results = {'machine': {'cpus': os.cpu_count(),
                         'python': platform.python_version(),
                         'platform': platform.platform()},
             'rows': args.rows, 'train_steps': args.train_steps,
             'beam_components': list(BEAM_COMPONENTS),
             'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
  with tempfile.TemporaryDirectory(prefix='bench_beam_workers_') as work:
    local = os.path.join(work, 'local')
    results['local_direct_runner'] = run_pipeline(local, args.rows,
                                                  args.train_steps, [])
    print('local:', json.dumps(results['local_direct_runner']), flush=True)
    # One in-process worker: the pools' shards may then match file for file.
    local_1 = os.path.join(work, 'local-1')
    results['local_direct_runner_1_worker'] = run_pipeline(
        local_1, args.rows, args.train_steps, ['--beam-workers', '1'])
    for pools in args.pools:
      found = run_on_pools(work, pools, args.rows, args.train_steps)
      found['equal_to_local'] = equivalence.compare(
          local, os.path.join(work, f'pools-{pools}'), work_dir=work)
      if pools == 1:
        found['equal_to_local_1_worker'] = equivalence.compare(
            local_1, os.path.join(work, 'pools-1'), work_dir=work)
      results[f'pools_{pools}'] = found
      print(f'pools {pools}:', json.dumps(found, default=str), flush=True)
  result_file.write(args.out, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
