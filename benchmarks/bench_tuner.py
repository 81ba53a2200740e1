"""Does the Tuner's successive halving rank candidates as full-length training does?

`python -m benchmarks.bench_tuner` (`make bench-tuner`): per size, one
`pipeline run --no-tune` makes Transform's output, then every distinct
candidate of the Tuner's search space (components/tuner.search_space; the
embedding size only counts with a deep branch) is trained twice on it with
the model code the Tuner and the Trainer use (`components.model.get_model`,
the same seed): for the
Trainer's full length, and for the shorter budget successive halving gives
it (`tuner.halving_rounds`, the defaults: a third). Each is scored on the
whole eval split (AUC), so the two rankings are compared on the same rows.

Recorded per size (benchmarks/results/tuner.json): each candidate's two
scores, Spearman's rank correlation of the two rankings, and, for the
Tuner's own draws (the defaults and the random candidates its oracle
proposes with the pipeline's seed), which candidate halving picks against
which one full-length trials would pick, with the full-length score lost
(the regret); also over every triple of candidates, how often the two pick
the same one and the worst regret.
"""

import argparse
import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

import numpy as np

from benchmarks import bench_pipeline

RESULTS = os.path.join(bench_pipeline.REPO, 'benchmarks', 'results',
                       'tuner.json')
SIZES = (15_000,)


def model_key(values: Dict) -> tuple:
  """What makes a different model: the embedding size only with a deep branch."""
  return tuple(sorted((k, v) for k, v in values.items()
                      if k != 'embedding_dim' or values['hidden_units']))


def distinct_candidates(space) -> List[Dict]:
  """Every combination of the space's choices that builds a different model."""
  names = [hp.name for hp in space.space]
  found, seen = [], set()
  for combination in itertools.product(*[hp.values for hp in space.space]):
    values = dict(zip(names, combination))
    key = model_key(values)
    if key not in seen:
      seen.add(key)
      found.append(values)
  return found


def spearman(a, b) -> float:
  from data import metrics  # pylint: disable=g-import-not-at-top
  ra, rb = metrics.average_ranks(a), metrics.average_ranks(b)
  return float(np.corrcoef(ra, rb)[0, 1])


def transformed_datasets(pipeline_root: str):
  """Train and eval batches of a run's Transform output (features, label)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from components import features  # pylint: disable=g-import-not-at-top
  graph = glob.glob(os.path.join(pipeline_root, 'Transform',
                                 'transform_graph', '*'))[0]
  spec = tft.TFTransformOutput(graph).transformed_feature_spec()

  def split(name):
    files = sorted(glob.glob(os.path.join(
        pipeline_root, 'Transform', 'transformed_examples', '*',
        f'Split-{name}', '*.gz')))
    def parse(batch):
      parsed = tf.io.parse_example(batch, spec)
      return parsed, parsed.pop(features.LABEL_KEY)
    return tf.data.TFRecordDataset(files, compression_type='GZIP').batch(
        features.BATCH_SIZE).map(parse)
  return split('train'), split('eval')


def score_candidates(pipeline_root: str, candidates: List[Dict],
                     lengths: List[int], train_rows: int, seed: int) -> Dict:
  """Eval AUC of each candidate trained for each length (same seed)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import model  # pylint: disable=g-import-not-at-top
  from data import metrics  # pylint: disable=g-import-not-at-top
  train, evaluation = transformed_datasets(pipeline_root)
  labels = np.concatenate([y.numpy().ravel() for _, y in evaluation])
  label_rate = model.estimate_label_rate(train.repeat())
  scores = {length: [] for length in lengths}
  seconds = {length: 0.0 for length in lengths}
  for values in candidates:
    for length in lengths:
      tf.keras.utils.set_random_seed(seed)
      started = time.time()
      keras_model = model.get_model(values, label_rate, train_rows=train_rows)
      keras_model.fit(train.repeat(), steps_per_epoch=length, epochs=1,
                      verbose=0)
      predicted = keras_model.predict(evaluation, verbose=0).ravel()
      seconds[length] += time.time() - started
      scores[length].append(round(metrics.roc_auc(predicted, labels), 4))
      print(json.dumps({'candidate': values, 'steps': length,
                        'auc': scores[length][-1]}), flush=True)
  return {'scores': scores, 'seconds': {k: round(v, 1)
                                        for k, v in seconds.items()},
          'eval_rows': int(len(labels))}


def tuner_draws(candidates_wanted: int, seed: int) -> List[Dict]:
  """The candidates the Tuner's oracle proposes first, as in a pipeline run."""
  import keras_tuner  # pylint: disable=g-import-not-at-top
  from components import tuner  # pylint: disable=g-import-not-at-top
  oracle = tuner.SuccessiveHalvingOracle(
      objective=keras_tuner.Objective(tuner.OBJECTIVE, 'max'),
      hyperparameters=tuner.search_space(), candidates=candidates_wanted,
      halving=1, full_steps=1, seed=seed)
  oracle._set_project_dir(tempfile.mkdtemp(prefix='bench_tuner_oracle_'),  # pylint: disable=protected-access
                          'draws')
  drawn = []
  for _ in range(candidates_wanted):
    trial = oracle.create_trial('bench')
    drawn.append(dict(trial.hyperparameters.values))
    oracle.update_trial(trial.trial_id, {tuner.OBJECTIVE: 0.5})
    trial.status = 'COMPLETED'
    oracle.end_trial(trial)
  return drawn


def compare(candidates, short, full, picks_of) -> Dict:
  """Halving's pick (best short) against full-length's pick (best full)."""
  keys = [model_key(c) for c in candidates]
  index = [keys.index(model_key(c)) for c in picks_of]
  by_short = max(index, key=lambda i: short[i])
  by_full = max(index, key=lambda i: full[i])
  return {'candidates': [candidates[i] for i in index],
          'short_scores': [short[i] for i in index],
          'full_scores': [full[i] for i in index],
          'halving_picks': candidates[by_short],
          'full_length_picks': candidates[by_full],
          'same_pick': by_short == by_full,
          'regret': round(full[by_full] - full[by_short], 4)}


def transformed_run(work: str, rows: int, seed: int) -> str:
  """Runs `pipeline run --no-tune` at `rows`; returns its pipeline root."""
  out = os.path.join(work, f'rows_{rows}')
  subprocess.run([sys.executable, '-m', 'pipeline', 'run', '--rows', str(rows),
                  '--seed', str(seed), '--no-tune', '--output', out],
                 cwd=bench_pipeline.REPO, check=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return os.path.join(out, 'pipeline_root')


def run_sizes(bench_size: Callable[[str, int, int], Dict], sizes, seed: int,
              out_path: str) -> Dict:
  """bench_size(work, rows, seed) per size in a scratch folder; writes out."""
  import components  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  work = tempfile.mkdtemp(prefix='bench_sizes_')
  results = {'machine': bench_pipeline.machine(), 'sizes': {}}
  try:
    for rows in sizes:
      results['sizes'][str(rows)] = bench_size(work, rows, seed)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  bench_pipeline.write_results(out_path, results)
  return results


def bench_size(work: str, rows: int, seed: int) -> Dict:
  from components import tuner  # pylint: disable=g-import-not-at-top
  from pipeline import config as pipeline_config  # pylint: disable=g-import-not-at-top
  root = transformed_run(work, rows, seed)
  config = pipeline_config.PipelineConfig(rows=rows, seed=seed).sized_for(rows)
  rounds = tuner.halving_rounds(config.tuner_trials, config.tuner_halving,
                                config.tuner_steps)
  short, full_length = rounds[-1][1], config.tuner_steps
  candidates = distinct_candidates(tuner.search_space())
  scored = score_candidates(root, candidates,
                            [short, full_length], config.train_rows, seed)
  s, f = scored['scores'][short], scored['scores'][full_length]
  triples = [compare(candidates, s, f, [candidates[i] for i in t])
             for t in itertools.combinations(range(len(candidates)), 3)]
  return {
      'rows': rows, 'train_rows': config.train_rows,
      'eval_rows': scored['eval_rows'],
      'full_steps': full_length, 'halving_steps': short, 'rounds': rounds,
      'seconds_training_all_candidates': scored['seconds'],
      'candidates': [{'values': c, 'auc_halving_steps': s[i],
                      'auc_full_steps': f[i]} for i, c in enumerate(candidates)],
      'spearman_all_candidates': round(spearman(s, f), 3),
      'tuner_draws': compare(candidates, s, f, tuner_draws(
          config.tuner_trials, seed)),
      'triples': {'count': len(triples),
                  'same_pick_share': round(np.mean(
                      [t['same_pick'] for t in triples]), 3),
                  'worst_regret': max(t['regret'] for t in triples),
                  'mean_regret': round(float(np.mean(
                      [t['regret'] for t in triples])), 4)}}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  results = run_sizes(bench_size, args.sizes, args.seed, args.out)
  print(json.dumps({k: {kk: v[kk] for kk in ('spearman_all_candidates',
                                             'tuner_draws', 'triples')}
                    for k, v in results['sizes'].items()}, indent=1))
  return 0


if __name__ == '__main__':
  sys.exit(main())
