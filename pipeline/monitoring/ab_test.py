"""The verdict of an A/B test: two served versions, each on its own traffic.

Feedback labels give each version a live AUC on the requests it answered
(pipeline/monitoring/live_metrics.py: the metric the judge blesses on). The
two AUCs are on different rows (independent samples; the judge's paired
test needs the same rows): for a binary label their difference's standard
error is the root of the sum of each one's squared DeLong error, and the
interval is normal; for a multi-class label (the macro one-vs-rest AUC,
which has no closed-form error) each arm is resampled on its own by a
seeded bootstrap and the interval is the 2.5% and 97.5% quantiles of the
resampled differences. The challenger is the canary (by label, else the
newer version), the incumbent stable.

The rule, in this order:
* not enough data yet: a version has fewer than `min_class_rows` labelled
  requests of some class, where no interval can be trusted;
* keep: the canary is significantly worse (the interval's upper bound is
  below 0);
* promote: the canary is not worse by more than `margin` (the interval's
  lower bound is above -margin: non-inferiority, so a retrained model that
  is as good as the stable one, on newer data, takes over);
* not enough data yet: otherwise, with an estimate of how many labelled
  requests per version would settle it if the difference held.
"""

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from components import judge
from pipeline.config import PipelineConfig
from pipeline.monitoring import live_metrics

PROMOTE, KEEP, NOT_ENOUGH = 'promote', 'keep', 'not enough data yet'


@dataclasses.dataclass(frozen=True)
class Rule:
  margin: float = 0.02
  min_class_rows: int = 30
  z: float = 1.96   # two-sided 95%

  @classmethod
  def from_config(cls, config: PipelineConfig) -> 'Rule':
    """The A/B settings of a config (`pipeline feedback`, the loop)."""
    return cls(margin=config.ab_margin,
               min_class_rows=config.ab_min_class_rows)


@dataclasses.dataclass(frozen=True)
class Arm:
  """One version's labelled traffic: class indices, and per row the
  positive class's probability (binary) or every class's (multi-class)."""
  version: str
  labels: Sequence[int]
  predictions: Sequence[Any]
  label: str = ''   # the version label the requests asked for, if any


def _summary(arm: Arm, seed: int) -> Dict[str, Any]:
  """The arm's live figures; for a multi-class arm also its resampled macro
  AUCs (popped by verdict once the difference is taken)."""
  if live_metrics.is_multiclass(arm.predictions):
    out = live_metrics.multiclass(arm.labels, arm.predictions, seed=seed)
  else:
    out = live_metrics.binary(arm.labels, arm.predictions)
  return {'model_version': arm.version, 'label': arm.label or None, **out}


def _difference(stable: Dict[str, Any], canary: Dict[str, Any],
                z: float) -> Tuple[float, float, float, float]:
  """(diff, its standard error, interval low, high), canary - stable."""
  diff = canary['auc'] - stable['auc']
  if 'resampled' in canary:   # multi-class: independent bootstraps
    diffs = canary.pop('resampled') - stable.pop('resampled')
    low, high = (float(q) for q in np.nanquantile(diffs, [0.025, 0.975]))
    return diff, float(np.nanstd(diffs, ddof=1)), low, high
  se = math.hypot(canary['auc_se'], stable['auc_se'])
  return diff, se, diff - z * se, diff + z * se


def verdict(stable: Arm, canary: Arm, rule: Rule = Rule()) -> Dict[str, Any]:
  """The verdict, both arms' live AUC and calibration, and the reason."""
  out = {'stable': _summary(stable, judge.BOOTSTRAP_SEED),
         'canary': _summary(canary, judge.BOOTSTRAP_SEED + 1),
         'margin': rule.margin, 'min_class_rows': rule.min_class_rows}
  short = [arm.version for arm in (stable, canary)
           if live_metrics.smallest_class(arm.labels, arm.predictions)
           < rule.min_class_rows]
  if short or 'auc' not in out['stable'] or 'auc' not in out['canary']:
    for arm in ('stable', 'canary'):
      out[arm].pop('resampled', None)
    out.update(verdict=NOT_ENOUGH, reason=(
        f'version {", ".join(short)} has fewer than {rule.min_class_rows} '
        'labelled requests of a class' if short else
        'a version has no AUC on its traffic (a class without rows)'))
    return out
  diff, se, low, high = _difference(out['stable'], out['canary'], rule.z)
  metric = out['canary']['metric']
  out.update(metric=metric, diff=diff, diff_se=se, diff_ci95=[low, high])
  interval = f'canary - stable {metric} {diff:+.4f}, 95% interval ' \
             f'{low:+.4f} to {high:+.4f}'
  if high < 0:
    out.update(verdict=KEEP, reason=f'{interval}: the canary is '
               'significantly worse')
  elif low > -rule.margin:
    out.update(verdict=PROMOTE, reason=f'{interval}: the canary is not worse '
               f'by more than the margin {rule.margin}')
  else:
    out.update(verdict=NOT_ENOUGH, reason=f'{interval}: neither worse nor '
               f'shown within the margin {rule.margin}')
    out['rows_needed_per_version'] = rows_needed(
        diff, se, len(canary.labels), rule)
  return out


def rows_needed(diff: float, se: float, rows: int,
                rule: Rule) -> Optional[int]:
  """Labelled requests per version that would settle it if the difference
  and the class mix held (the error shrinks as one over the root of n)."""
  # Settled when the interval clears -margin from above or 0 from below.
  gap = max(diff + rule.margin, -diff)
  if gap <= 0:
    return None
  return int(math.ceil(rows * (rule.z * se / gap) ** 2))


def arms(rows: List[Dict[str, Any]], label_of: Dict[str, int],
         id_key: str, version_key: str, label_key: str,
         prediction_key: str) -> Optional[List[Arm]]:
  """[stable, canary] from joined rows of exactly two versions, else None.

  The canary is the version its requests named `canary`; without labels in
  the log (REST clients pin the version a label resolved to), the newer
  version.
  """
  versions = sorted({row[version_key] for row in rows
                     if row.get(version_key) is not None})
  if len(versions) != 2:
    return None
  named = {row.get(label_key): row[version_key] for row in rows
           if row.get(label_key)}
  canary = named.get('canary', versions[-1])
  stable = next(v for v in versions if v != canary)
  built = []
  for version, name in ((stable, 'stable'), (canary, 'canary')):
    mine = [row for row in rows if row.get(version_key) == version
            and prediction_key in row]
    built.append(Arm(str(version), [label_of[r[id_key]] for r in mine],
                     [r[prediction_key] for r in mine],
                     name if name in named else ''))
  return built
