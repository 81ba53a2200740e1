"""Wall time, throughput, memory and model quality of the whole pipeline.

`python -m benchmarks.bench_pipeline` (`make bench-pipeline`) runs, each in a
fresh output folder and as its own process tree (as a user runs it):
  * TFX's own Chicago-taxi example (15,000 rows, 8 components), the yardstick;
  * our pipeline (`python -m pipeline run`, defaults: Tuner on) at 15,000 and
    50,000 generated rows, then a cached rerun at 15,000 rows.
For each: wall time, wall time per component (from ML Metadata), rows/s and
the peak resident memory of the process tree (sampled every 0.2 s). For ours
also the eval AUC next to the best achievable AUC on the same eval rows (the
generator's true probabilities). Results: benchmarks/results/pipeline.json.
"""

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

import psutil

from benchmarks import result_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'benchmarks', 'results', 'pipeline.json')
TAXI_ROWS = 15_000
SIZES = (15_000, 50_000)
TARGETS = {'ratio_to_taxi_at_15000_rows': 0.8, 'cached_rerun_seconds': 10.0,
           'auc_gap_to_best_achievable': 0.02}


class PeakMemory:
  """Peak summed RSS of a process and all its descendants."""

  def __init__(self, pid: int, interval: float = 0.2):
    self.peak_bytes = 0
    self._root = psutil.Process(pid)
    self._interval = interval
    self._done = threading.Event()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()

  def _sample(self):
    while not self._done.is_set():
      try:
        procs = [self._root] + self._root.children(recursive=True)
        total = 0
        for proc in procs:
          try:
            total += proc.memory_info().rss
          except psutil.Error:
            pass
        self.peak_bytes = max(self.peak_bytes, total)
      except psutil.Error:
        pass
      self._done.wait(self._interval)

  def stop(self) -> int:
    self._done.set()
    self._thread.join()
    return self.peak_bytes


def run_timed(cmd: List[str], log_path: str) -> Dict[str, object]:
  """Runs a command to completion; wall seconds, peak MB, exit code, stdout."""
  started = time.time()
  with open(log_path, 'w') as log:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=log, text=True)
    monitor = PeakMemory(proc.pid)
    stdout, _ = proc.communicate()
  peak = monitor.stop()
  return {'wall_seconds': round(time.time() - started, 1),
          'peak_rss_mb': round(peak / 2**20), 'returncode': proc.returncode,
          'stdout': stdout}


def component_seconds(metadata_path: str) -> Dict[str, float]:
  """Per-component wall time of the newest run, read from ML Metadata."""
  from pipeline.metadata import summary  # pylint: disable=g-import-not-at-top
  run = summary.latest_run_at(metadata_path) or {'components': []}
  return {c['component']: round(c['seconds'], 1) for c in run['components']}


def newest_artifact(pipeline_root: str, component: str,
                    output: str) -> Optional[str]:
  """The folder of a component output's newest artifact (TFX names them by
  execution id), or None if it wrote none."""
  found = glob.glob(os.path.join(pipeline_root, component, output, '*'))
  return max(found, key=lambda p: int(os.path.basename(p))) if found else None


def eval_complaint_ids(pipeline_root: str) -> List[int]:
  """Complaint ids of the eval split CsvExampleGen wrote (newest artifact)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  newest = newest_artifact(pipeline_root, 'CsvExampleGen', 'examples')
  if newest is None:
    raise FileNotFoundError(f'no CsvExampleGen examples in {pipeline_root}')
  ids = []
  for path in sorted(glob.glob(os.path.join(newest, 'Split-eval', '*.gz'))):
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
      example = tf.train.Example.FromString(record.numpy())
      feature = example.features.feature['complaint_id']
      values = (list(feature.int64_list.value) or
                [int(v) for v in feature.bytes_list.value])
      ids.extend(values)
  return ids


def trained_hyperparameters(pipeline_root: str) -> Dict[str, object]:
  """The hyperparameters the newest model was trained with (the Tuner's pick
  when it ran), from the Trainer's training history."""
  from pipeline.metadata import lineage  # pylint: disable=g-import-not-at-top
  model_run = newest_artifact(pipeline_root, 'Trainer', 'model_run')
  history = lineage.training_history(model_run) if model_run else None
  return (history or {}).get('hyperparameters', {})


def best_achievable_auc(rows: int, seed: int, ids: List[int]) -> float:
  """AUC of the true probabilities on exactly these eval rows."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from data import generate, metrics  # pylint: disable=g-import-not-at-top
  paths = generate.output_paths(rows, seed,
                                os.path.join(REPO, 'data', 'generated'))
  truth = pd.read_csv(paths.true_probabilities_csv).set_index('complaint_id')
  export = pd.read_csv(paths.export_csv, usecols=['Complaint ID',
                                                  'Consumer disputed?'])
  labels = export.set_index('Complaint ID')['Consumer disputed?'].map(
      {'Yes': 1, 'No': 0})
  ids = [i for i in ids if i in truth.index]
  return metrics.best_achievable_auc(truth.loc[ids, 'true_probability'],
                                     labels.loc[ids].astype(int))


def machine() -> Dict[str, object]:
  """What the benchmark ran on (every result file records it)."""
  return {'cpus': os.cpu_count(), 'python': platform.python_version(),
          'memory_gb': round(psutil.virtual_memory().total / 2**30)}


def write_results(path: str, results: Dict) -> None:
  """Writes a result file with the command and commit that made it."""
  result_file.write(path, results)


def bench_taxi(work: str) -> Dict[str, object]:
  out = os.path.join(work, 'taxi')
  result = run_timed([sys.executable, '-m', 'benchmarks.taxi_example', out],
                     os.path.join(work, 'taxi.log'))
  result.pop('stdout')
  result['rows'] = TAXI_ROWS
  result['rows_per_second'] = round(TAXI_ROWS / result['wall_seconds'], 1)
  result['components_seconds'] = component_seconds(
      os.path.join(out, 'metadata.sqlite'))
  return result


def bench_ours(work: str, rows: int, seed: int, extra: List[str],
               out: Optional[str] = None, label: str = '') -> Dict[str, object]:
  out = out or os.path.join(work, f'ours_{rows}')
  result = run_timed(
      [sys.executable, '-m', 'pipeline', 'run', '--rows', str(rows),
       '--seed', str(seed), '--output', out, '--json', *extra],
      os.path.join(work, f'ours_{rows}{label}.log'))
  stdout = result.pop('stdout')
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  summary = summary_text.parse_json_summary(stdout)
  result.update(rows=rows, rows_per_second=round(rows / result['wall_seconds'],
                                                  1),
                components_seconds=component_seconds(
                    os.path.join(out, 'metadata.sqlite')),
                states=sorted({c['state'] for c in summary.get('components',
                                                               [])}))
  overall = summary.get('metrics', {}).get('Overall', {})
  if 'auc' in overall:
    ids = eval_complaint_ids(os.path.join(out, 'pipeline_root'))
    best = best_achievable_auc(rows, seed, ids)
    result.update(eval_rows=len(ids), eval_auc=round(overall['auc'], 4),
                  best_achievable_auc=round(best, 4),
                  auc_gap=round(best - overall['auc'], 4),
                  blessed=summary.get('blessed'),
                  hyperparameters=trained_hyperparameters(
                      os.path.join(out, 'pipeline_root')))
  return result


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--skip-taxi', action='store_true')
  parser.add_argument('--keep', action='store_true',
                      help='keep the scratch folder (printed)')
  parser.add_argument('--out', default=RESULTS)
  parser.add_argument('extra', nargs='*',
                      help='extra flags for `pipeline run` (after --)')
  args = parser.parse_args(argv)
  work = tempfile.mkdtemp(prefix='bench_pipeline_')
  results = {'machine': machine(),
             'targets': TARGETS, 'pipeline_args': args.extra}
  try:
    if not args.skip_taxi:
      results['taxi_example'] = bench_taxi(work)
      print('taxi:', json.dumps(results['taxi_example']), flush=True)
    for rows in args.sizes:
      results[f'ours_{rows}'] = bench_ours(work, rows, args.seed, args.extra)
      print(f'ours {rows}:', json.dumps(results[f'ours_{rows}']), flush=True)
    first = min(args.sizes)
    results[f'ours_{first}_cached_rerun'] = bench_ours(
        work, first, args.seed, args.extra,
        out=os.path.join(work, f'ours_{first}'), label='_rerun')
    ours = results.get(f'ours_{TAXI_ROWS}')
    if ours and 'taxi_example' in results:
      results['ratio_to_taxi_at_15000_rows'] = round(
          ours['wall_seconds'] / results['taxi_example']['wall_seconds'], 2)
  finally:
    if args.keep:
      print('scratch folder kept:', work)
    else:
      shutil.rmtree(work, ignore_errors=True)
  write_results(args.out, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
