"""What each change to the Trainer's recipe does to the AUC gap, by size.

`python -m benchmarks.bench_training` (`make bench-training`): per size, one
`pipeline run --no-tune` makes Transform's output; then the default
hyperparameters are trained on it, with the model code the Trainer uses
(`components.model.get_model`, the same seed), under each recipe:

  * `fixed_1000`: 1,000 steps, no prior (the Trainer before train steps by
    size);
  * `fixed_1000_prior`: the same with the prior on categorical effects;
  * `by_size`: train steps by size (`PipelineConfig.train_steps_for`);
  * `by_size_prior`: both, i.e. the Trainer's recipe today.

Each is scored (AUC) on the whole eval split, next to the best achievable
AUC on the same rows (the generator's true probabilities), and timed.
Results: benchmarks/results/training.json.
"""

import argparse
import json
import os
import sys
import time
from typing import Dict

import numpy as np

from benchmarks import bench_pipeline
from benchmarks import bench_tuner

RESULTS = os.path.join(bench_pipeline.REPO, 'benchmarks', 'results',
                       'training.json')
SIZES = (15_000, 500_000)
FIXED_STEPS = 1000


def recipes(config) -> Dict[str, Dict]:
  """Recipe name -> train steps and the prior's rows (0: no prior)."""
  by_size, rows = config.train_steps, config.train_rows
  return {'fixed_1000': {'steps': FIXED_STEPS, 'prior_rows': 0},
          'fixed_1000_prior': {'steps': FIXED_STEPS, 'prior_rows': rows},
          'by_size': {'steps': by_size, 'prior_rows': 0},
          'by_size_prior': {'steps': by_size, 'prior_rows': rows}}


def bench_size(work: str, rows: int, seed: int) -> Dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import model  # pylint: disable=g-import-not-at-top
  from data import metrics  # pylint: disable=g-import-not-at-top
  from pipeline import config as pipeline_config  # pylint: disable=g-import-not-at-top
  root = bench_tuner.transformed_run(work, rows, seed)
  config = pipeline_config.PipelineConfig(rows=rows, seed=seed).sized_for(rows)
  train, evaluation = bench_tuner.transformed_datasets(root)
  labels = np.concatenate([y.numpy().ravel() for _, y in evaluation])
  label_rate = model.estimate_label_rate(train.repeat())
  best = bench_pipeline.best_achievable_auc(
      rows, seed, bench_pipeline.eval_complaint_ids(root))
  found = {}
  for name, recipe in recipes(config).items():
    tf.keras.utils.set_random_seed(seed)
    started = time.time()
    keras_model = model.get_model(model.DEFAULT_HPARAMS, label_rate,
                                  train_rows=recipe['prior_rows'])
    keras_model.fit(train.repeat(), steps_per_epoch=recipe['steps'], epochs=1,
                    verbose=0)
    auc = metrics.roc_auc(keras_model.predict(evaluation, verbose=0).ravel(),
                          labels)
    found[name] = dict(recipe, eval_auc=round(auc, 4),
                       auc_gap=round(best - auc, 4),
                       train_seconds=round(time.time() - started, 1))
    print(json.dumps({'rows': rows, name: found[name]}), flush=True)
  return {'rows': rows, 'train_rows': config.train_rows,
          'eval_rows': int(len(labels)), 'best_achievable_auc': round(best, 4),
          'recipes': found}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  bench_tuner.run_sizes(bench_size, args.sizes, args.seed, args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
