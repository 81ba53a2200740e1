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


BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240607


def macro_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
  """The mean over classes of each class's one-vs-rest AUC (the classes
  present with at least one row in and one out; NaN if none is)."""
  from data import metrics  # pylint: disable=g-import-not-at-top
  aucs = [metrics.roc_auc(probabilities[:, k], labels == k)
          for k in range(probabilities.shape[1])
          if 0 < int((labels == k).sum()) < len(labels)]
  return float(np.mean(aucs)) if aucs else float('nan')


def bootstrap_rows(count: int, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> np.ndarray:
  """[resamples, count] row indices drawn with replacement, seeded: the
  same draws for every model scored on the same rows (a paired bootstrap)."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, count, size=(resamples, count))


def resampled_macro_aucs(labels: np.ndarray, probabilities: np.ndarray,
                         rows: np.ndarray) -> np.ndarray:
  """The macro AUC on each resample of `rows` (NaN where no class has rows
  in and out)."""
  return np.array([macro_auc(labels[r], probabilities[r]) for r in rows])


def decide_multiclass(labels: Sequence[int], candidate: np.ndarray,
                      baseline: Optional[np.ndarray], min_auc: float,
                      significance: float, max_regression: float,
                      classes: Sequence[str] = (),
                      resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = BOOTSTRAP_SEED) -> Dict[str, Any]:
  """The binary rule on the macro one-vs-rest AUC, with intervals from a
  seeded paired bootstrap over the eval rows (no closed form such as
  Hanley-McNeil or DeLong covers a macro AUC): the gate on the lower 2.5%
  quantile of the candidate's resampled AUCs; against the baseline, both
  models scored on the same resampled rows, held back when the upper
  (1 - significance) quantile of the difference is below -max_regression.
  """
  labels = np.asarray(labels, dtype=int)
  candidate = np.asarray(candidate, dtype=float)
  counts = np.bincount(labels, minlength=candidate.shape[1])
  names = list(classes) or [str(k) for k in range(candidate.shape[1])]
  out: Dict[str, Any] = {'eval_rows': len(labels), 'metric': 'macro AUC',
                         'class_rows': {names[k]: int(c)
                                        for k, c in enumerate(counts)},
                         'min_auc': min_auc, 'significance': significance,
                         'max_auc_regression': max_regression,
                         'interval': f'paired bootstrap, {resamples} '
                                     f'resamples, seed {seed}'}
  if (counts < 2).any():
    out.update(blessed=False, reason='the eval split has fewer than two '
               'examples of a class: no macro AUC to judge')
    return out
  from data import metrics  # pylint: disable=g-import-not-at-top
  auc = macro_auc(labels, candidate)
  out['per_class_auc'] = {
      names[k]: float(metrics.roc_auc(candidate[:, k], labels == k))
      for k in range(candidate.shape[1])}
  rows = bootstrap_rows(len(labels), resamples, seed)
  resampled = resampled_macro_aucs(labels, candidate, rows)
  low, high = (float(q) for q in np.nanquantile(resampled, [0.025, 0.975]))
  out.update(candidate_auc=auc, candidate_auc_ci95=[low, high],
             gate_passed=bool(low >= min_auc))
  reasons = [f'macro AUC {auc:.4f}, 95% interval {low:.3f}-{high:.3f} '
             f'(bootstrap): its lower bound is '
             f'{"at or above" if low >= min_auc else "below"} the gate '
             f'{min_auc:g}']
  regressed = False
  if baseline is not None:
    baseline = np.asarray(baseline, dtype=float)
    base_auc = macro_auc(labels, baseline)
    diffs = np.array([macro_auc(labels[r], candidate[r]) -
                      macro_auc(labels[r], baseline[r]) for r in rows])
    upper = float(np.nanquantile(diffs, 1.0 - significance))
    ci = [float(q) for q in np.nanquantile(diffs, [0.025, 0.975])]
    regressed = bool(upper < -max_regression)
    out.update(baseline_auc=base_auc, diff=auc - base_auc,
               diff_se=float(np.nanstd(diffs, ddof=1)), diff_ci95=ci,
               diff_upper_bound=upper,
               p_value_worse=float(np.nanmean(diffs >= 0)),
               significantly_worse=regressed)
    reasons.append(
        f'against the baseline (macro AUC {base_auc:.4f} on the same '
        f'{len(labels)} rows): difference {auc - base_auc:+.4f}, 95% '
        f'interval {ci[0]:+.3f} to {ci[1]:+.3f} (paired bootstrap); '
        + ('significantly worse' if regressed else 'not significantly worse')
        + f' (one-sided {significance:g}: upper bound {upper:+.4f} '
        f'{"<" if regressed else ">="} {-max_regression:+g})')
  else:
    reasons.append('no baseline: no earlier blessed model to compare with')
  out['blessed'] = bool(out['gate_passed'] and not regressed)
  out['reason'] = '; '.join(reasons)
  out['rules'] = [dict(rule, metric='macro AUC',
                       rule=rule['rule'].replace('DeLong', 'paired bootstrap'))
                  for rule in rules(min_auc, significance, max_regression)]
  return out


def _eval_examples(examples_uri: str) -> List[bytes]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(examples_uri, EVAL_SPLIT, '*')))
  return [record.numpy() for record in tf.data.TFRecordDataset(
      files, compression_type='GZIP')]


def _labels(records: List[bytes], label_key: str) -> List[int]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  labels = []
  for record in records:
    feature = tf.train.Example.FromString(record).features.feature[
        label_key]
    labels.append(int(feature.int64_list.value[0]))
  return labels


def score(model_uri: str, records: List[bytes],
          output_key: str) -> np.ndarray:
  """The model's probabilities for serialized tf.Examples, by a Trainer's
  Model artifact: [N] for a binary model (P(positive)), [N, classes] for a
  multi-class one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  predict = tf.saved_model.load(path_utils.serving_model_path(
      model_uri)).signatures[features.EXAMPLES_SIGNATURE]
  scores = []
  for start in range(0, len(records), BATCH):
    out = predict(**{features.EXAMPLES_INPUT: tf.constant(
        records[start:start + BATCH])})
    scores.append(np.asarray(out[output_key].numpy(), dtype=float))
  if not scores:
    return np.zeros(0)
  joined = np.concatenate(scores)
  return joined.ravel() if joined.ndim == 1 or joined.shape[1] == 1 else joined


def judge(examples_uri: str, model_uri: str, baseline_uri: Optional[str],
          min_auc: float, significance: float, max_regression: float,
          label_key: str, output_key: str,
          classes: Sequence[str] = ()) -> Dict[str, Any]:
  """Scores the eval split with both models and decides (classes: a
  multi-class label's class names, in the model's output order)."""
  records = _eval_examples(examples_uri)
  labels = _labels(records, label_key)
  candidate = score(model_uri, records, output_key)
  baseline = (score(baseline_uri, records, output_key) if baseline_uri
              else None)
  if len(classes) > 2:
    return decide_multiclass(labels, candidate, baseline, min_auc,
                             significance, max_regression, classes)
  return decide(labels, list(candidate), baseline if baseline is None
                else list(baseline), min_auc, significance, max_regression)
