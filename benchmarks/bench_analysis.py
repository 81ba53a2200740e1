"""What the model analysis costs: attributions per 1,000 rows, permutation
importance, fairness, and the ModelAnalysis component in a pipeline run.

`python -m benchmarks.bench_analysis` (`make bench-analysis`) runs the
pipeline (`pipeline run --rows N --no-tune --train-steps 150`, the
end-to-end test's settings) at each size into a temporary folder, then on
that run's pushed model and eval split times, in this process:
- loading the SavedModel, and the first call of `explain` (tracing);
- `explain` and `predict_raw` over every eval row, the median of 3 passes
  after that first call: seconds per 1,000 rows, and what the attributions
  add to a prediction;
- permutation importance (components/dependency.py with the pipeline's
  settings: 3 shuffles per group, 200 bootstrap resamples, at most 5,000
  rows), mean |attribution| per slice, and the fairness rates;
and reads the ModelAnalysis component's and the Evaluator's wall time from
the run's ML Metadata. Run it alone (`flock /tmp/heavy.lock ...` on a
shared machine). Results: benchmarks/results/analysis.json.
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict

import components  # noqa: F401  pylint: disable=unused-import

from benchmarks import bench_pipeline
from benchmarks import result_file

RESULTS = os.path.join(result_file.REPO, 'benchmarks', 'results',
                       'analysis.json')
SIZES = (4000, 20000)
PASSES = 3


def _timed(fn, *args, **kwargs):
  started = time.perf_counter()
  value = fn(*args, **kwargs)
  return value, time.perf_counter() - started


def measure(output: str) -> Dict[str, Any]:
  """The costs on one pipeline output's pushed model and eval split."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import attributions  # pylint: disable=g-import-not-at-top
  from components import dependency  # pylint: disable=g-import-not-at-top
  from components import fairness  # pylint: disable=g-import-not-at-top
  from components import features  # pylint: disable=g-import-not-at-top
  from components import judge  # pylint: disable=g-import-not-at-top
  from components import model_analysis  # pylint: disable=g-import-not-at-top
  root = os.path.join(output, 'pipeline_root')
  examples = bench_pipeline.newest_artifact(root, 'CsvExampleGen', 'examples')
  records = judge._eval_examples(examples)  # pylint: disable=protected-access
  labels = np.array(judge._labels(records))  # pylint: disable=protected-access
  version_dir = max(glob.glob(os.path.join(output, 'serving', '*', '*')))
  loaded, load_seconds = _timed(tf.saved_model.load, version_dir)
  columns = model_analysis.wire_columns(records)
  explain = loaded.signatures[attributions.SIGNATURE]
  predict = loaded.signatures[features.RAW_SIGNATURE]
  explained, first_explain = _timed(model_analysis.call, explain, columns)
  _, first_predict = _timed(model_analysis.call, predict, columns)
  rows = len(labels)
  per_thousand = {}
  for name, signature in (('explain', explain), ('predict_raw', predict)):
    times = [_timed(model_analysis.call, signature, columns)[1]
             for _ in range(PASSES)]
    per_thousand[name] = round(statistics.median(times) / rows * 1000, 4)
  keys = list(features.RAW_FEATURES)
  groups = dependency.groups_of(keys)
  slices = model_analysis.slice_values(columns)
  _, summary_seconds = _timed(
      dependency.attribution_summary, explained[attributions.ATTRIBUTIONS],
      keys, slices, groups)
  chosen = model_analysis.sample_rows(rows, dependency.MAX_ROWS,
                                      dependency.SEED)
  _, importance_seconds = _timed(
      dependency.permutation_importance,
      lambda shuffled: model_analysis.probabilities(
          model_analysis.call(predict, shuffled)[features.OUTPUT_KEY]),
      {k: v[chosen] for k, v in columns.items()}, labels[chosen], groups)
  scores = model_analysis.probabilities(explained[features.OUTPUT_KEY])
  _, fairness_seconds = _timed(fairness.fairness, scores, labels, slices)
  times = bench_pipeline.component_seconds(os.path.join(output,
                                                        'metadata.sqlite'))
  return {
      'eval_rows': rows, 'groups': len(groups),
      'importance_rows': len(chosen),
      'importance_scorings': 1 + len(groups) * dependency.REPEATS,
      'load_seconds': round(load_seconds, 2),
      'first_explain_seconds': round(first_explain, 2),
      'first_predict_seconds': round(first_predict, 2),
      'seconds_per_1000_rows': per_thousand,
      'attribution_overhead': round(
          per_thousand['explain'] / per_thousand['predict_raw'], 2),
      'attribution_summary_seconds': round(summary_seconds, 3),
      'permutation_importance_seconds': round(importance_seconds, 2),
      'fairness_seconds': round(fairness_seconds, 3),
      'pipeline_component_seconds': {
          name: times.get(name) for name in ('ModelAnalysis', 'Evaluator',
                                             'BaselineJudge', 'Trainer')}}


def run_pipeline(output: str, rows: int) -> None:
  subprocess.run([sys.executable, '-m', 'pipeline', 'run', '--output', output,
                  '--rows', str(rows), '--no-tune', '--train-steps', '150'],
                 cwd=result_file.REPO, check=True, capture_output=True)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  results = {'settings': {'passes': PASSES, 'pipeline': (
      '--no-tune --train-steps 150')}, 'sizes': {}}
  for rows in args.sizes:
    work = tempfile.mkdtemp(prefix='bench-analysis-')
    try:
      run_pipeline(os.path.join(work, 'output'), rows)
      results['sizes'][str(rows)] = measure(os.path.join(work, 'output'))
    finally:
      shutil.rmtree(work, ignore_errors=True)
    print(rows, results['sizes'][str(rows)], flush=True)
    result_file.write(args.out, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
