"""The model's quality at every size: the CFPB pipeline against a reference
that knows which inputs matter (`make bench-small-data`).

Per size (4,000, 15,000 and 50,000 generated complaints) and seed (1, 2,
3): `pipeline run --rows N --seed S --no-tune` with the train steps chosen
by size (early stopping on a held-out part of the training split,
components/early_stopping.py); its judge's AUC on the eval split; on the
same rows, the reference: scikit-learn's LogisticRegressionCV (the inverse
regularization C chosen by 5-fold cross-validation on the AUC) on the
one-hot of the fields the generator's label model reads (response,
product, timely, channel, tags, issue, company, state) plus one indicator
per dispute phrase (data/label_model.py), fitted on the same training
rows; and the label model's Bayes AUC (its true probabilities), the
ceiling. The gap is reference minus model, its mean over the seeds per
size the figure the dataset-spec issue targets (within 0.02).

Writes benchmarks/results/small_data.json. About 25 minutes on 2 cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List

import components  # noqa: F401  (the stack's settings, before TensorFlow loads)

import numpy as np
import pandas as pd

from benchmarks import bench_pipeline
from benchmarks import result_file

RESULT = os.path.join(bench_pipeline.REPO, 'benchmarks', 'results',
                      'small_data.json')
SIZES = (4_000, 15_000, 50_000)
SEEDS = (1, 2, 3)
FIELDS = ('Company response to consumer', 'Product', 'Timely response?',
          'Submitted via', 'Tags', 'Issue', 'Company', 'State')
TARGET_GAP = 0.02


def reference_auc(train: pd.DataFrame, evaluation: pd.DataFrame) -> Dict:
  """LogisticRegressionCV on what the label model reads."""
  from scipy import sparse  # pylint: disable=g-import-not-at-top
  from sklearn.linear_model import LogisticRegressionCV  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  from sklearn.preprocessing import OneHotEncoder  # pylint: disable=g-import-not-at-top
  from data import label_model  # pylint: disable=g-import-not-at-top

  def phrases(rows):
    text = rows['Consumer complaint narrative'].fillna('').str.lower()
    return sparse.csr_matrix(np.column_stack(
        [text.str.contains(p.key, regex=False).to_numpy(float)
         for p in label_model.PHRASES]))

  encoder = OneHotEncoder(handle_unknown='ignore')
  x_train = sparse.hstack([encoder.fit_transform(
      train[list(FIELDS)].fillna('')), phrases(train)]).tocsr()
  x_eval = sparse.hstack([encoder.transform(
      evaluation[list(FIELDS)].fillna('')), phrases(evaluation)]).tocsr()
  y_train = (train['Consumer disputed?'] == 'Yes').to_numpy(int)
  y_eval = (evaluation['Consumer disputed?'] == 'Yes').to_numpy(int)
  model = LogisticRegressionCV(Cs=10, cv=5, scoring='roc_auc',
                               solver='liblinear', max_iter=1000,
                               random_state=0)
  model.fit(x_train, y_train)
  return {'auc': float(roc_auc_score(y_eval, model.predict_proba(x_eval)[:,
                                                                         1])),
          'C': float(model.C_[0])}


def one_run(work: str, rows: int, seed: int) -> Dict:
  from data import generate  # pylint: disable=g-import-not-at-top
  output = os.path.join(work, f'rows{rows}_seed{seed}')
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--rows', str(rows),
       '--seed', str(seed), '--no-tune', '--output', output, '--json'],
      cwd=bench_pipeline.REPO, capture_output=True, text=True, check=False)
  if proc.returncode not in (0,):
    raise RuntimeError(proc.stderr[-2000:])
  root = os.path.join(output, 'pipeline_root')
  judgement_dir = bench_pipeline.newest_artifact(root, 'BaselineJudge',
                                                 'blessing')
  with open(os.path.join(judgement_dir, 'judgement.json'),
            encoding='utf-8') as f:
    judgement = json.load(f)
  eval_ids = set(bench_pipeline.eval_complaint_ids(root))
  export = pd.read_csv(generate.output_paths(
      rows, seed, os.path.join(bench_pipeline.REPO, 'data',
                               'generated')).export_csv, dtype=str,
                       keep_default_na=False)
  export = export[export['Consumer disputed?'].isin(['Yes', 'No'])]
  in_eval = export['Complaint ID'].astype(int).isin(eval_ids)
  reference = reference_auc(export[~in_eval], export[in_eval])
  model_auc = float(judgement['candidate_auc'])
  return {'eval_rows': int(in_eval.sum()), 'model_auc': round(model_auc, 4),
          'reference_auc': round(reference['auc'], 4),
          'reference_C': reference['C'],
          'bayes_auc': round(float(bench_pipeline.best_achievable_auc(
              rows, seed, sorted(eval_ids))), 4),
          'gap': round(reference['auc'] - model_auc, 4),
          'blessed': judgement['blessed']}


def main(argv: List[str] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_small_data')
  parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
  parser.add_argument('--seeds', type=int, nargs='+', default=list(SEEDS))
  parser.add_argument('--out', default=RESULT)
  args = parser.parse_args(argv)
  work = tempfile.mkdtemp(prefix='bench-small-data-')
  results = {'target_mean_gap': TARGET_GAP, 'sizes': {}}
  for rows in args.sizes:
    runs = {}
    for seed in args.seeds:
      runs[str(seed)] = one_run(work, rows, seed)
      print(rows, seed, json.dumps(runs[str(seed)]), flush=True)
    gaps = [r['gap'] for r in runs.values()]
    results['sizes'][str(rows)] = {
        'runs': runs, 'mean_gap': round(float(np.mean(gaps)), 4),
        'mean_model_auc': round(float(np.mean(
            [r['model_auc'] for r in runs.values()])), 4),
        'mean_reference_auc': round(float(np.mean(
            [r['reference_auc'] for r in runs.values()])), 4),
        'mean_bayes_auc': round(float(np.mean(
            [r['bayes_auc'] for r in runs.values()])), 4),
        'within_target': bool(np.mean(gaps) <= TARGET_GAP)}
    result_file.write(args.out, results)  # after every size: partial results
  print('wrote', args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
