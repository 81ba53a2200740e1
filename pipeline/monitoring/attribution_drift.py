"""Attribution drift: what the served model leans on, served against eval.

Per raw feature, the mean |attribution| over a window's served rows (the
served model's own `explain` signature, components/attributions.py, run
here in process on the logged requests' raw features) is compared with the
same mean over the eval split, as the ModelAnalysis component recorded it
for that model (components/model_analysis.py, analysis.json: each
feature's mean |attribution| and its 95% interval, whose half-width is
1.96 standard errors).

The distance of a feature is the change of its mean |attribution| as a
share of the model's whole dependency on the eval split:

    distance_j = |mean_served_j - mean_eval_j| / sum_k mean_eval_k

so a threshold of 0.05 reads "this feature's mean |attribution| moved by
5% of everything the model leans on". Relative to the whole rather than to
the feature's own mean: a feature the model barely uses cannot alert by
doubling a tiny weight, and what alerts is a change large enough to move
predictions. Units cancel (log-odds over log-odds).

The noise bound is the normal interval of a difference of two independent
means: `noise_z` standard errors of the difference, sqrt(se_eval^2 +
se_served^2), over the same total. Two samples of one population exceed
it with the two-sided normal tail of noise_z (0.27% at 3). A feature
alerts above both, as the other distances do; its threshold is
`--attribution-drift-threshold`, or `--feature-thresholds
<key>_attribution=T` for one feature.

Multi-class models: |attribution| is averaged over the classes (what
ModelAnalysis records with an interval and the report charts,
components/dependency.magnitudes), one test per feature. Summed instead,
the distance would be the same (the total scales alike); per class, a
feature would be tested once per class, multiplying the false alerts by
the classes for a change that rarely concerns one class alone (a change
confined to one class of C still moves the mean, by 1/C of it).

What it can and cannot see: in the wide model a feature's attribution
depends on that feature's value alone, so it moves when that feature's
values move in a way the model weighs (reworded narratives whose phrases
the model never learned), and a change of the labels alone (concept
drift) moves none: labels catch that (`pipeline feedback`), not the
monitor. A deep branch's part is unattributed (approximation_error) and
so not watched here.
"""

import math
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from pipeline.monitoring import skew

MEASURE = 'mean |attribution|'
CHECK = 'attribution'
OVERRIDE_SUFFIX = '_attribution'   # --feature-thresholds narrative_attribution=0.1
Z95 = 1.959963984540054   # the interval ModelAnalysis records (dependency.Z95)


class Reference:
  """The eval split's mean |attribution| per feature, with standard errors."""

  def __init__(self, keys: Sequence[str], mean: Sequence[float],
               se: Sequence[float], rows: int):
    self.keys = list(keys)
    self.mean = np.asarray(mean, dtype=np.float64)
    self.se = np.asarray(se, dtype=np.float64)
    self.rows = int(rows)

  @property
  def total(self) -> float:
    """The model's whole dependency: the features' mean |attribution| summed."""
    return float(self.mean.sum())


def override_name(key: str) -> str:
  """A feature's attribution threshold in --feature-thresholds."""
  return key + OVERRIDE_SUFFIX


def reference_of(analysis: Optional[Dict[str, Any]]) -> Optional[Reference]:
  """The eval split's figures from a ModelAnalysis analysis.json (None when
  it has no attributions, or no interval: fewer than two eval rows)."""
  found = (analysis or {}).get('attributions') or {}
  table = found.get('features') or []
  rows = int(found.get('rows') or 0)
  if not table or rows < 2:
    return None
  keys, mean, se = [], [], []
  for row in table:
    interval = row.get('ci95') or [None, None]
    if row.get('mean_abs') is None or None in interval:
      return None
    keys.append(row['feature'])
    mean.append(row['mean_abs'])
    se.append((interval[1] - interval[0]) / (2 * Z95))
  return Reference(keys, mean, se, rows)


def mean_with_se(values: np.ndarray) -> (float, float):
  """(mean, standard error of the mean) of a sample of two or more."""
  values = np.asarray(values, dtype=np.float64)
  return (float(values.mean()),
          float(values.std(ddof=1) / math.sqrt(len(values))))


def attribution_shift(name: str, eval_mean: float, eval_se: float,
                      eval_rows: int, served: np.ndarray, total: float,
                      threshold: float, z: float) -> Dict[str, Any]:
  """One feature's attribution drift finding (see the module docstring).

  Args:
    name: the raw feature key.
    eval_mean, eval_se, eval_rows: its mean |attribution| on the eval
      split, the mean's standard error, the rows it was taken over.
    served: its |attribution| per served row (two or more).
    total: the model's whole dependency on the eval split (Reference.total).
    threshold: the configured distance.
    z: noise_z.
  """
  served_mean, served_se = mean_with_se(served)
  eval_mean, eval_se, total = float(eval_mean), float(eval_se), float(total)
  distance = abs(served_mean - eval_mean) / total
  noise = z * math.sqrt(eval_se ** 2 + served_se ** 2) / total
  found = skew.finding(name, MEASURE, distance, threshold, noise,
                       int(eval_rows), len(served))
  found.update(eval_mean_abs=eval_mean, served_mean_abs=served_mean,
               change=served_mean - eval_mean, total_eval=total)
  return found


def findings(reference: Reference, keys: Sequence[str],
             magnitudes: np.ndarray, default: float,
             per_feature: Dict[str, float], z: float
             ) -> List[Dict[str, Any]]:
  """A finding per feature both sides have, largest distance first.

  Args:
    reference: the eval split's figures.
    keys: the features of magnitudes' columns (the explain signature's).
    magnitudes: [N, F] served |attribution| (class-averaged).
    default: the attribution drift threshold.
    per_feature: --feature-thresholds (override_name(key) = threshold).
    z: noise_z.
  """
  total = reference.total
  if not total > 0 or len(magnitudes) < 2:
    return []
  found = []
  for column, key in enumerate(keys):
    if key not in reference.keys:
      continue
    index = reference.keys.index(key)
    found.append(attribution_shift(
        key, reference.mean[index], reference.se[index], reference.rows,
        magnitudes[:, column], total,
        per_feature.get(override_name(key), default), z))
  return sorted(found, key=lambda f: (-f['distance'], f['feature']))


def row_columns(rows: List[Dict[str, Any]], parts) -> Dict[str, np.ndarray]:
  """Served rows as the explain signature (predict_raw's inputs) takes
  them: a numeric feature float32 (NaN: missing), any other bytes ('':
  missing), as ModelAnalysis feeds the eval split (wire_columns)."""
  from pipeline.monitoring import by_kind  # pylint: disable=g-import-not-at-top
  columns = {}
  for part in parts:
    values = [row.get(part.key) for row in rows]
    if part.kind == 'numeric':
      columns[part.key] = by_kind.as_numbers(values).astype(np.float32)
    else:
      columns[part.key] = np.array(
          [b'' if v is None else str(v).encode('utf-8') for v in values],
          dtype=object)
  return columns


def served_magnitudes(model_dir: str, rows: List[Dict[str, Any]], spec
                      ) -> (Optional[List[str]], Optional[np.ndarray]):
  """(keys, [N, F] |attribution| of the served rows, class-averaged) from
  the model's explain signature; (None, None) when it has none."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import attributions  # pylint: disable=g-import-not-at-top
  from components import dependency  # pylint: disable=g-import-not-at-top
  from components import model_analysis  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(model_dir)
  if attributions.SIGNATURE not in loaded.signatures:
    return None, None
  parts = attributions.parts(spec)
  explained = model_analysis.call(loaded.signatures[attributions.SIGNATURE],
                                  row_columns(rows, parts))
  return ([p.key for p in parts],
          dependency.magnitudes(explained[attributions.ATTRIBUTIONS]))


class Baseline:
  """What a served version's attributions are compared with: its model's
  folder and the eval split's figures (or why there are none)."""

  def __init__(self, model_dir: Optional[str],
               reference: Optional[Reference], missing: str = ''):
    self.model_dir = model_dir
    self.reference = reference
    self.missing = missing


def baseline_of(graph, pushed, model) -> Baseline:
  """The served copy of a pushed model (its pushed destination, else the
  Trainer's export) and its ModelAnalysis figures, from ML Metadata."""
  from pipeline.metadata import lineage  # pylint: disable=g-import-not-at-top
  from pipeline.metadata import store  # pylint: disable=g-import-not-at-top
  model_dir = store.prop(pushed, 'pushed_destination', '') or ''
  if not os.path.isdir(model_dir):
    from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
    model_dir = path_utils.serving_model_path(model.uri)
  reference = reference_of(lineage.analysis_of_model(graph, model))
  return Baseline(model_dir, reference,
                  '' if reference else 'no ModelAnalysis attributions are '
                  'recorded for this model')


def judge(baseline: Optional[Baseline], rows: List[Dict[str, Any]],
          default: float, per_feature: Dict[str, float], z: float,
          spec) -> Dict[str, Any]:
  """{'attribution': findings, 'attribution_note': why none, or None}."""
  if baseline is None:
    return {'attribution': [], 'attribution_note': 'no model to explain'}
  if baseline.reference is None:
    return {'attribution': [], 'attribution_note': baseline.missing}
  if len(rows) < 2:
    return {'attribution': [],
            'attribution_note': 'fewer than two requests to average'}
  keys, magnitudes = served_magnitudes(baseline.model_dir, rows, spec)
  if magnitudes is None:
    return {'attribution': [], 'attribution_note': 'the served model has no '
            'explain signature (exported before attributions were)'}
  return {'attribution': findings(baseline.reference, keys, magnitudes,
                                  default, per_feature, z),
          'attribution_note': None}
