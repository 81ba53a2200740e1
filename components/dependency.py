"""How much the model depends on each raw feature, with intervals.

Two measures, read side by side:
- mean |attribution| (components/attributions.py) per feature, overall and
  per slice, with a 95% interval for the mean (normal approximation over
  the rows); what the model leans on for the rows it sees;
- permutation importance: the drop in AUC and the rise in log-loss when a
  feature's values are shuffled across the eval rows, repeated, with a
  paired bootstrap interval over the rows; what the model's quality needs.
  Features that stand in for each other (CFPB's product and sub-product,
  issue and sub-issue, state and ZIP code) are shuffled together as one
  group: shuffled alone, the other would still carry most of what they say
  (scikit-learn's permutation_importance has no such groups).

Only numpy at import: the readers of ML Metadata import what is named here.
"""

from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from components import features

Z95 = 1.959963984540054
# Fields that say what another field refines: shuffled together.
CFPB_GROUPS: Tuple[Tuple[str, ...], ...] = (
    (features.PRODUCT, features.SUB_PRODUCT),
    (features.ISSUE, features.SUB_ISSUE),
    (features.STATE, features.ZIP_CODE))
REPEATS = 3           # shuffles per group
RESAMPLES = 200       # bootstrap resamples of the eval rows
MAX_ROWS = 5000       # eval rows the permutations score, at most (sampled)
SEED = 42
SLICES_PER_FEATURE = 10  # the largest values of each slicing feature


def magnitudes(attributions: np.ndarray) -> np.ndarray:
  """[N, F] |attribution| (multi-class [N, F, C]: the mean over classes)."""
  values = np.abs(np.asarray(attributions, dtype=np.float64))
  return values.mean(axis=2) if values.ndim == 3 else values


def groups_of(keys: Sequence[str],
              grouped: Sequence[Sequence[str]] = CFPB_GROUPS
              ) -> List[Tuple[str, ...]]:
  """The features shuffled together, in the keys' order: each group whose
  members are all inputs, and every other feature alone."""
  found, taken = [], set()
  for key in keys:
    if key in taken:
      continue
    group = next((tuple(g) for g in grouped
                  if key in g and all(k in keys for k in g)), (key,))
    found.append(group)
    taken.update(group)
  return found


def group_name(group: Sequence[str]) -> str:
  return '+'.join(group)


def by_group(attributions: np.ndarray, keys: Sequence[str],
             groups: Sequence[Sequence[str]]) -> np.ndarray:
  """[N, G(, C)]: a group's attribution, the sum of its members'."""
  values = np.asarray(attributions, dtype=np.float64)
  return np.stack([values[:, [list(keys).index(k) for k in g]].sum(axis=1)
                   for g in groups], axis=1)


def mean_with_interval(values: np.ndarray) -> Dict[str, Any]:
  """Column means of [N, K] values, each with its 95% interval."""
  values = np.asarray(values, dtype=np.float64)
  rows = values.shape[0]
  mean = values.mean(axis=0)
  half = (Z95 * values.std(axis=0, ddof=1) / np.sqrt(rows) if rows > 1
          else np.full_like(mean, np.nan))
  return {'rows': int(rows), 'mean': mean, 'low': mean - half,
          'high': mean + half}


def _table(names: Sequence[str], found: Dict[str, Any]) -> List[Dict]:
  """Features by mean |attribution|, largest first."""
  rows = [{'feature': name, 'mean_abs': float(found['mean'][i]),
           'ci95': [float(found['low'][i]), float(found['high'][i])]}
          for i, name in enumerate(names)]
  return sorted(rows, key=lambda r: -r['mean_abs'])


def attribution_summary(attributions: np.ndarray, keys: Sequence[str],
                        slices: Mapping[str, np.ndarray],
                        groups: Sequence[Sequence[str]] = (),
                        classes: Sequence[str] = ()) -> Dict[str, Any]:
  """Mean |attribution| per feature (and group) overall and per slice.

  Args:
    attributions: [N, F] or [N, F, C] (explain's output).
    keys: the F features' names.
    slices: slicing feature -> each row's value ([N]).
    groups: groups of features summed before |.| (groups_of).
    classes: a multi-class model's class names (per-class means).
  """
  values = np.asarray(attributions, dtype=np.float64)
  sizes = magnitudes(values)
  out = {'rows': int(values.shape[0]),
         'features': _table(keys, mean_with_interval(sizes))}
  if groups and any(len(g) > 1 for g in groups):
    out['groups'] = _table([group_name(g) for g in groups],
                           mean_with_interval(magnitudes(
                               by_group(values, keys, groups))))
  if values.ndim == 3 and classes:
    out['per_class'] = {
        name: {k: float(v) for k, v in zip(
            keys, np.abs(values[:, :, c]).mean(axis=0))}
        for c, name in enumerate(classes)}
  out['slices'] = {}
  for feature, row_values in slices.items():
    row_values = np.asarray(row_values)
    names, counts = np.unique(row_values, return_counts=True)
    largest = names[np.argsort(-counts, kind='stable')][:SLICES_PER_FEATURE]
    per_value = {}
    for name in largest:
      found = mean_with_interval(sizes[row_values == name])
      per_value[str(name)] = {
          'rows': found['rows'],
          'mean_abs': {k: [float(found['mean'][i]), float(found['low'][i]),
                           float(found['high'][i])]
                       for i, k in enumerate(keys)}}
    out['slices'][feature] = per_value
  return out


def log_loss_per_row(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
  """Binary ([N] P(positive)) or multi-class ([N, C]) log-loss per row."""
  labels = np.asarray(labels, dtype=int)
  scores = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
  if scores.ndim == 2:
    return -np.log(scores[np.arange(len(labels)), labels])
  return -(labels * np.log(scores) + (1 - labels) * np.log(1 - scores))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """AUC (multi-class: the macro one-vs-rest AUC, the judge's metric)."""
  from components import judge  # pylint: disable=g-import-not-at-top
  from data import metrics  # pylint: disable=g-import-not-at-top
  scores = np.asarray(scores)
  if scores.ndim == 2:
    return judge.macro_auc(np.asarray(labels, dtype=int), scores)
  labels = np.asarray(labels, dtype=int)
  if labels.min() == labels.max():
    return float('nan')
  return float(metrics.roc_auc(scores, labels))


def weighted_aucs(labels: np.ndarray, scores: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
  """[B] AUCs of one score vector under B row weightings ([B, N], e.g. a
  bootstrap's counts): the Mann-Whitney statistic with weights, ties half,
  so one sort serves every resample. Multi-class ([N, C] scores): the
  macro one-vs-rest AUC. NaN where a weighting leaves a class without
  rows."""
  scores = np.asarray(scores, dtype=np.float64)
  labels = np.asarray(labels, dtype=int)
  weights = np.asarray(weights, dtype=np.float64)
  if scores.ndim == 2:
    per_class = [weighted_aucs((labels == k).astype(int), scores[:, k],
                               weights) for k in range(scores.shape[1])]
    return np.mean(per_class, axis=0)
  order = np.argsort(scores, kind='stable')
  ordered = scores[order]
  starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
  positive = labels[order] == 1
  sorted_weights = weights[:, order]
  pos = np.add.reduceat(sorted_weights * positive, starts, axis=1)
  neg = np.add.reduceat(sorted_weights * ~positive, starts, axis=1)
  below = np.cumsum(neg, axis=1) - neg
  with np.errstate(invalid='ignore', divide='ignore'):
    return ((pos * (below + 0.5 * neg)).sum(axis=1)
            / (pos.sum(axis=1) * neg.sum(axis=1)))


def bootstrap_weights(rows: int, resamples: int,
                      rng: np.random.Generator) -> np.ndarray:
  """[resamples, rows]: how often each row is drawn in each resample."""
  draws = rng.integers(0, rows, size=(resamples, rows))
  return np.stack([np.bincount(d, minlength=rows) for d in draws])


def permutation_importance(
    score: Callable[[Dict[str, np.ndarray]], np.ndarray],
    columns: Dict[str, np.ndarray], labels: np.ndarray,
    groups: Sequence[Sequence[str]], repeats: int = REPEATS,
    resamples: int = RESAMPLES, seed: int = SEED) -> Dict[str, Any]:
  """AUC drop and log-loss rise when each group's values are shuffled.

  Each repeat shuffles the rows of the group's columns together (one
  permutation for all its members, so their joint values stay as they
  were). The point estimate is the mean over repeats; the interval a
  paired bootstrap over the rows: the same resampled rows for the
  unshuffled and every shuffled scoring, so what is measured is the drop,
  not each AUC's own noise.

  Args:
    score: columns -> probabilities ([N] or [N, C]), the model's.
    columns: the raw columns of the rows scored (arrays of [N]).
    labels: [N] class indices.
    groups: the groups to shuffle (groups_of).
    repeats, resamples, seed: as named.
  """
  labels = np.asarray(labels, dtype=int)
  rows = len(labels)
  rng = np.random.default_rng(seed)
  base = score(columns)
  base_loss = log_loss_per_row(labels, base)
  weights = bootstrap_weights(rows, resamples, rng)
  base_aucs = weighted_aucs(labels, base, weights)
  found = []
  for group in groups:
    shuffled_scores = []
    for _ in range(repeats):
      order = rng.permutation(rows)
      shuffled = dict(columns)
      for key in group:
        shuffled[key] = np.asarray(columns[key])[order]
      shuffled_scores.append(score(shuffled))
    auc_drop = float(np.mean([auc(labels, base) - auc(labels, s)
                              for s in shuffled_scores]))
    loss_rise_rows = np.mean([log_loss_per_row(labels, s) - base_loss
                              for s in shuffled_scores], axis=0)
    boot_auc = base_aucs - np.mean([weighted_aucs(labels, s, weights)
                                    for s in shuffled_scores], axis=0)
    boot_loss = weights @ loss_rise_rows / rows
    found.append({
        'feature': group_name(group), 'members': list(group),
        'auc_drop': auc_drop,
        'auc_drop_ci95': [float(q) for q in np.nanquantile(
            boot_auc, [0.025, 0.975])],
        'log_loss_rise': float(loss_rise_rows.mean()),
        'log_loss_rise_ci95': [float(q) for q in np.quantile(
            boot_loss, [0.025, 0.975])]})
  return {'rows': rows, 'repeats': repeats, 'resamples': resamples,
          'seed': seed, 'base_auc': auc(labels, base),
          'base_log_loss': float(base_loss.mean()),
          'features': sorted(found, key=lambda r: -r['auc_drop'])}
