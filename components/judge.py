"""The blessing decision: the candidate against the gate and against the
model in production, each with its uncertainty.

TFMA's thresholds compare point estimates: a fixed bound of 0.01 on the AUC
drop held back a retrained model 0.037 below its baseline on 777 eval rows
(well inside the noise of an AUC there), and a 0.65 bound blessed a model
whose AUC was 0.742 on 41 rows (95% interval 0.549-0.934). The judge decides
on intervals instead, on the Evaluator's eval split:
- the absolute gate: the lower bound of the candidate's 95% AUC interval
  (Hanley-McNeil) must clear `min_auc`;
- against the baseline (the latest blessed model other than the candidate):
  both models score the same eval rows and DeLong's test for two correlated
  AUCs gives the difference with its interval; the candidate is held back
  only when it is significantly worse, i.e. the one-sided upper confidence
  bound of (candidate - baseline) at `significance` lies below
  `-max_auc_regression`.
It writes a ModelBlessing the Pusher obeys and the resolver reads
(`judged` = 1), with the numbers and the rule in `judgement.json`.

Only numpy at import: TensorFlow loads inside the functions that score, so
the readers of ML Metadata can import the names defined here cheaply.
"""

import glob
import math
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from components import features

JUDGEMENT_FILE = 'judgement.json'
NODE_ID = 'BaselineJudge'  # its node in the pipeline (pipeline.pipeline)
JUDGED = 'judged'   # custom property of the judge's blessings
EVAL_SPLIT = 'Split-eval'
BATCH = 512


def _midranks(values: np.ndarray) -> np.ndarray:
  from data import metrics  # pylint: disable=g-import-not-at-top
  return metrics.average_ranks(values)


def _placements(scores: np.ndarray, positive: np.ndarray,
                negative: np.ndarray):
  """DeLong's structural components: per positive, the share of negatives it
  outranks; per negative, the share of positives that outrank it."""
  m, n = int(positive.sum()), int(negative.sum())
  x, y = scores[positive], scores[negative]
  ranks_all = _midranks(np.concatenate([x, y]))
  v10 = (ranks_all[:m] - _midranks(x)) / n        # per positive
  v01 = 1.0 - (ranks_all[m:] - _midranks(y)) / m  # per negative
  return v10, v01


def _classes(labels: Sequence[int]):
  labels = np.asarray(labels, dtype=int)
  positive, negative = labels == 1, labels == 0
  m, n = int(positive.sum()), int(negative.sum())
  if m < 2 or n < 2:
    raise ValueError(f'AUC needs two of each class; got {m} positives and '
                     f'{n} negatives')
  return positive, negative, m, n


def auc_with_standard_error(labels: Sequence[int],
                            scores: Sequence[float]) -> Dict[str, float]:
  """One AUC and DeLong's standard error of it (for AUCs on separate rows,
  such as two versions' own traffic in an A/B test).

  Raises:
    ValueError: fewer than two rows of a class.
  """
  positive, negative, m, n = _classes(labels)
  v10, v01 = _placements(np.asarray(scores, float), positive, negative)
  variance = float(np.var(v10, ddof=1)) / m + float(np.var(v01, ddof=1)) / n
  return {'auc': float(v10.mean()), 'se': math.sqrt(max(variance, 0.0)),
          'positives': m, 'negatives': n}


def delong(labels: Sequence[int], scores_a: Sequence[float],
           scores_b: Sequence[float]) -> Dict[str, float]:
  """DeLong, DeLong & Clarke-Pearson (1988): two AUCs on the same rows.

  Returns:
    auc_a, auc_b, diff (a - b), its standard error, and the covariance terms'
    sizes (positives, negatives).

  Raises:
    ValueError: a class is empty (no AUC).
  """
  positive, negative, m, n = _classes(labels)
  (a10, a01), (b10, b01) = (
      _placements(np.asarray(scores, float), positive, negative)
      for scores in (scores_a, scores_b))
  auc_a, auc_b = float(a10.mean()), float(b10.mean())
  s10 = np.cov(np.vstack([a10, b10]))
  s01 = np.cov(np.vstack([a01, b01]))
  variance = ((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m +
              (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n)
  return {'auc_a': auc_a, 'auc_b': auc_b, 'diff': auc_a - auc_b,
          'diff_se': float(math.sqrt(max(variance, 0.0))),
          'positives': m, 'negatives': n}


def decide(labels: Sequence[int], candidate: Sequence[float],
           baseline: Optional[Sequence[float]], min_auc: float,
           significance: float, max_regression: float) -> Dict[str, Any]:
  """The judgement, as numbers and in words (see the module docstring)."""
  from data import metrics  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  labels = np.asarray(labels, dtype=int)
  m = int(labels.sum())
  n = len(labels) - m
  out: Dict[str, Any] = {'eval_rows': len(labels), 'positives': m,
                         'min_auc': min_auc, 'significance': significance,
                         'max_auc_regression': max_regression}
  if m < 2 or n < 2:
    out.update(blessed=False, reason='the eval split has fewer than two '
               'examples of a class: no AUC to judge')
    return out
  auc = float(metrics.roc_auc(np.asarray(candidate), labels))
  low, high = metrics.auc_confidence_interval(auc, m, n)
  low, high = float(low), float(high)
  out.update(candidate_auc=auc, candidate_auc_ci95=[low, high],
             gate_passed=bool(low >= min_auc))
  reasons = [f'AUC {auc:.4f}, 95% interval {low:.3f}-{high:.3f}: its lower '
             f'bound is {"at or above" if low >= min_auc else "below"} the '
             f'gate {min_auc:g}']
  regressed = False
  if baseline is not None:
    test = delong(labels, candidate, baseline)
    z = float(stats.norm.isf(significance))
    upper = test['diff'] + z * test['diff_se']
    two_sided = float(stats.norm.isf(0.025))
    regressed = bool(upper < -max_regression)
    p_worse = float(stats.norm.cdf(test['diff'] / test['diff_se'])) if (
        test['diff_se'] > 0) else float(test['diff'] < 0)
    out.update(baseline_auc=test['auc_b'], diff=test['diff'],
               diff_se=test['diff_se'],
               diff_ci95=[test['diff'] - two_sided * test['diff_se'],
                          test['diff'] + two_sided * test['diff_se']],
               diff_upper_bound=upper, p_value_worse=p_worse,
               significantly_worse=regressed)
    reasons.append(
        f'against the baseline (AUC {test["auc_b"]:.4f} on the same '
        f'{len(labels)} rows): difference {test["diff"]:+.4f}, 95% interval '
        f'{out["diff_ci95"][0]:+.3f} to {out["diff_ci95"][1]:+.3f} '
        f'(DeLong); ' + ('significantly worse' if regressed else
                         'not significantly worse') +
        f' (one-sided {significance:g}: upper bound {upper:+.4f} '
        f'{"<" if regressed else ">="} {-max_regression:+g})')
  else:
    reasons.append('no baseline: no earlier blessed model to compare with')
  out['blessed'] = bool(out['gate_passed'] and not regressed)
  out['reason'] = '; '.join(reasons)
  out['rules'] = rules(min_auc, significance, max_regression)
  return out


def rules(min_auc: float, significance: float,
          max_regression: float) -> List[Dict[str, str]]:
  """The judge's rules in words (for lineage, the report, the card)."""
  return [
      {'metric': 'AUC', 'slice': 'Overall',
       'rule': f'lower bound of the 95% interval >= {min_auc:g}'},
      {'metric': 'AUC', 'slice': 'Overall',
       'rule': ('change vs baseline not significantly below '
                f'{-max_regression:+g} (DeLong, one-sided {significance:g})')}]


def _eval_examples(examples_uri: str) -> List[bytes]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(examples_uri, EVAL_SPLIT, '*')))
  return [record.numpy() for record in tf.data.TFRecordDataset(
      files, compression_type='GZIP')]


def _labels(records: List[bytes]) -> List[int]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  labels = []
  for record in records:
    feature = tf.train.Example.FromString(record).features.feature[
        features.LABEL_KEY]
    labels.append(int(feature.int64_list.value[0]))
  return labels


def score(model_uri: str, records: List[bytes]) -> List[float]:
  """P(disputed) of serialized tf.Examples by a Trainer's Model artifact."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  predict = tf.saved_model.load(path_utils.serving_model_path(
      model_uri)).signatures[features.EXAMPLES_SIGNATURE]
  scores = []
  for start in range(0, len(records), BATCH):
    out = predict(**{features.EXAMPLES_INPUT: tf.constant(
        records[start:start + BATCH])})
    scores += [float(p) for p in out[features.OUTPUT_KEY].numpy().ravel()]
  return scores


def judge(examples_uri: str, model_uri: str, baseline_uri: Optional[str],
          min_auc: float, significance: float,
          max_regression: float) -> Dict[str, Any]:
  """Scores the eval split with both models and decides."""
  records = _eval_examples(examples_uri)
  labels = _labels(records)
  candidate = score(model_uri, records)
  baseline = score(baseline_uri, records) if baseline_uri else None
  return decide(labels, candidate, baseline, min_auc, significance,
                max_regression)
