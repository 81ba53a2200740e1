"""What the monitor sees under each drift scenario, through the real server.

`python -m benchmarks.bench_monitoring` (`make bench-monitoring`): one
pipeline run on generated data (default 10,000 rows, no Tuner), then for the
clean distribution and each scenario of data/scenarios.py a window of 1,000
new complaints sent by the bulk client through the model server with
request logging on, and `python -m pipeline monitor` on that window's logs
(each window against training only: its own monitoring folder, so no drift
against a previous window). Writes benchmarks/results/monitoring.json: per
scenario the alerted features with their distances and thresholds, and the
served model's live AUC on the window (labels joined by `pipeline feedback
--no-span`) next to the best achievable AUC of the scenario's true
probabilities.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import result_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'benchmarks', 'results', 'monitoring.json')
SCENARIOS = (None, 'channel_shift', 'product_shift', 'product_channel_shift',
             'new_response', 'narrative_wording', 'concept_drift')


def _cli(*args, ok=(0,)):
  proc = subprocess.run([sys.executable, '-m', *args], cwd=REPO,
                        capture_output=True, text=True)
  if proc.returncode not in ok:
    raise SystemExit(f'{" ".join(args[:2])} failed ({proc.returncode}): '
                     f'{proc.stderr[-1500:]}')
  return proc


def window(output: str, work: str, scenario, rows: int, seed: int, span: int):
  """One window: traffic through the server, monitor, feedback."""
  from data import generate, metrics  # pylint: disable=g-import-not-at-top
  from serving import child_server  # pylint: disable=g-import-not-at-top
  name = scenario or 'none'
  folder = os.path.join(work, name)
  os.makedirs(folder)
  export, truth = generate.generate(rows, seed, scenario=scenario, span=span)
  csv = os.path.join(folder, 'complaints.csv')
  export.to_csv(csv, index=False)
  started = time.time()
  sent = child_server.serve_and_score(os.path.join(output, 'serving'), csv,
                                      folder)
  serve_seconds = time.time() - started
  # A copy of the output per window: each is judged against training only.
  judged = os.path.join(folder, 'output')
  shutil.copytree(output, judged, ignore=shutil.ignore_patterns('monitoring'))
  started = time.time()
  monitored = json.loads(_cli('pipeline', 'monitor', '--output', judged,
                              '--logs', sent['request_logs'], '--json',
                              ok=(0, 4)).stdout)
  monitor_seconds = time.time() - started
  labels = os.path.join(folder, 'labels.csv')
  export[['Complaint ID', 'Consumer disputed?']].to_csv(labels, index=False)
  fed = json.loads(_cli('pipeline', 'feedback', labels, '--logs',
                        sent['request_logs'], '--output', judged, '--no-span',
                        '--json').stdout)
  labels01 = (export['Consumer disputed?'] == 'Yes').astype(int)
  live = fed['versions'][0]['live']
  return {
      'scenario': name, 'requests': monitored['requests'],
      'alerted': sorted({f['feature'] for f in monitored['features']
                         if f['alert']}),
      'alerts': [{k: f[k] for k in ('feature', 'check', 'measure', 'distance',
                                    'threshold')}
                 for f in monitored['features'] if f['alert']],
      'largest_quiet_distance': max(
          (f['distance'] / f['threshold'] for f in monitored['features']
           if not f['alert'] and f['distance'] is not None), default=None),
      'live_auc': round(live['auc'], 4), 'live_auc_ci95': [
          round(v, 4) for v in live['auc_ci95']],
      'eval_auc': round(fed['versions'][0]['eval']['auc'], 4),
      'best_achievable_auc': round(float(metrics.best_achievable_auc(
          truth['true_probability'], labels01)), 4),
      'serve_seconds': round(serve_seconds, 1),
      'monitor_seconds': round(monitor_seconds, 1)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', type=int, default=10_000,
                      help='generated rows the model is trained on')
  parser.add_argument('--window', type=int, default=1_000,
                      help='requests per window')
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  work = tempfile.mkdtemp(prefix='bench_monitoring-')
  output = os.path.join(work, 'run')
  started = time.time()
  _cli('pipeline', 'run', '--rows', str(args.rows), '--seed', str(args.seed),
       '--no-tune', '--output', output, '--json')
  run_seconds = time.time() - started
  windows = []
  for i, scenario in enumerate(SCENARIOS):
    windows.append(window(output, work, scenario, args.window,
                          args.seed + 100 + i, span=10 + i))
    print(json.dumps(windows[-1]), flush=True)
  result = {'command': 'python -m benchmarks.bench_monitoring',
            'date': time.strftime('%Y-%m-%d', time.gmtime()),
            'training_rows': args.rows, 'window_requests': args.window,
            'pipeline_seconds': round(run_seconds, 1), 'windows': windows}
  result_file.write(args.out, result, indent=1)
  shutil.rmtree(work, ignore_errors=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
