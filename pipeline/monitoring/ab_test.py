"""The verdict of an A/B test: two served versions, each on its own traffic.

Feedback labels give each version a live AUC on the requests it answered.
The two AUCs are on different rows, so their difference's standard error is
the root of the sum of each one's squared DeLong error (independent
samples; the judge's paired test needs the same rows). The challenger is
the canary (by label, else the newer version), the incumbent stable.

The rule, in this order:
* not enough data yet: a version has fewer than `min_class_rows` labelled
  requests of either class, where no interval can be trusted;
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
from typing import Any, Dict, List, Optional, Sequence

from components import judge
from data import metrics as data_metrics
from pipeline.config import PipelineConfig

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
  """One version's labelled traffic."""
  version: str
  labels: Sequence[int]
  predictions: Sequence[float]
  label: str = ''   # the version label the requests asked for, if any


def _summary(arm: Arm) -> Dict[str, Any]:
  labels = list(arm.labels)
  out = {'model_version': arm.version, 'label': arm.label or None,
         'examples': len(labels), 'disputed': int(sum(labels)),
         'mean_prediction': (sum(arm.predictions) / len(labels)
                             if labels else None)}
  if labels and sum(labels):
    out['calibration'] = out['mean_prediction'] / (sum(labels) / len(labels))
  try:
    found = judge.auc_with_standard_error(labels, arm.predictions)
  except ValueError:
    return out
  out.update(auc=found['auc'], auc_se=found['se'])
  out['auc_ci95'] = list(data_metrics.auc_confidence_interval(
      found['auc'], found['positives'], found['negatives']))
  return out


def _smallest_class(arm: Arm) -> int:
  disputed = int(sum(arm.labels))
  return min(disputed, len(arm.labels) - disputed)


def verdict(stable: Arm, canary: Arm, rule: Rule = Rule()) -> Dict[str, Any]:
  """The verdict, both arms' live AUC and calibration, and the reason."""
  out = {'stable': _summary(stable), 'canary': _summary(canary),
         'margin': rule.margin, 'min_class_rows': rule.min_class_rows}
  short = [arm.version for arm in (stable, canary)
           if _smallest_class(arm) < rule.min_class_rows]
  if short:
    out.update(verdict=NOT_ENOUGH, reason=(
        f'version {", ".join(short)} has fewer than {rule.min_class_rows} '
        'labelled requests of a class'))
    return out
  diff = out['canary']['auc'] - out['stable']['auc']
  se = math.hypot(out['canary']['auc_se'], out['stable']['auc_se'])
  low, high = diff - rule.z * se, diff + rule.z * se
  out.update(diff=diff, diff_se=se, diff_ci95=[low, high])
  interval = f'canary - stable AUC {diff:+.4f}, 95% interval {low:+.4f} to ' \
             f'{high:+.4f}'
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
