"""The model's dependency against the label model's truth, by size.

`python -m benchmarks.bench_attribution_truth` trains the CFPB spec's model
plus a column of pure noise as the Trainer does (early stopping, its
default) on N generated rows, in process (a real tft_beam Transform, the
by-kind Trainer, the exported `explain` signature: the setting of
tests/components/test_attribution_truth.py, whose functions it uses), and
records per group of stand-in fields the model's mean |attribution| next to
the truth read from the label model's tables, the rank correlation between
them and the noise column's mean |attribution|: whether the issue's bounds
(#26: rank correlation at least 0.8; the noise below every group the label
model reads) hold at that size. Results: benchmarks/results/attribution_truth.json.
"""

import argparse
import os
import sys
import tempfile

import components  # noqa: F401  pylint: disable=unused-import

from benchmarks import result_file

RESULTS = os.path.join(result_file.REPO, 'benchmarks', 'results',
                       'attribution_truth.json')
SIZES = (4000, 15000)


def measure(rows: int, train_steps: int = 0):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from data import metrics  # pylint: disable=g-import-not-at-top
  from tests.components import test_attribution_truth as truth_check  # pylint: disable=g-import-not-at-top
  export, found, keys = truth_check._trained(  # pylint: disable=protected-access
      tempfile.mkdtemp(prefix='bench-truth-'), rows=rows,
      train_steps=train_steps)
  truth = truth_check._truth(export)  # pylint: disable=protected-access
  model = truth_check._model(found, keys)  # pylint: disable=protected-access
  names = list(truth_check.TRUTH_GROUPS)
  rho = float(np.corrcoef(metrics.average_ranks([truth[n] for n in names]),
                          metrics.average_ranks([model[n] for n in names]))[
                              0, 1])
  noise = model[truth_check.NOISE]
  return {'rows': rows, 'train_steps': train_steps or 'early stopping',
          'eval_rows': len(export), 'rank_correlation': rho,
          'rank_bound_met': rho >= 0.8, 'noise_mean_abs': noise,
          'groups_below_noise': sorted(n for n in names if model[n] <= noise),
          'truth': truth, 'model': {n: model[n] for n in names}}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--out', default=RESULTS)
  args = parser.parse_args(argv)
  results = {'sizes': {}}
  for rows in args.sizes:
    results['sizes'][str(rows)] = measure(rows)
    print(rows, results['sizes'][str(rows)], flush=True)
    result_file.write(args.out, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
