"""Numbers and slices as people read them: the one formatter of the project.

The terminal summary, lineage, the run list, the HTML report, the model card
and the notebooks all format numbers and pick slices here, so the same value
reads the same everywhere.
"""

import math
from typing import Any, Callable, Dict, Iterable, List, Mapping

from pipeline.metadata.evaluation import OVERALL
MISSING = '-'
UNDEFINED = 'n/a'   # NaN: e.g. precision of a slice with no predicted positive
DIGITS = 4          # significant digits of a metric
SLICES_PER_FEATURE = 6  # largest slices shown per slicing feature (all in --json)
SMALL_SLICE = 100   # eval examples below which a slice's metrics are noise


def is_interval(value: Any) -> bool:
  return (isinstance(value, (list, tuple)) and len(value) == 2 and
          all(isinstance(v, (int, float)) for v in value))


def number(value: Any, digits: int = DIGITS) -> str:
  """A metric, count or interval as text.

  None is '-', NaN 'n/a', a float that is a whole number (a count TFMA
  stores as a double) is printed whole, other floats with `digits`
  significant digits, a [low, high] pair as 'low-high' with 3 decimals.
  """
  if value is None:
    return MISSING
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if is_interval(value):
    return '%.3f-%.3f' % tuple(value)
  if isinstance(value, float):
    if math.isnan(value):
      return UNDEFINED
    if value.is_integer() and abs(value) < 1e9:
      return str(int(value))
    return '%.*g' % (digits, value)
  return str(value)


def signed(value: Any, digits: int = DIGITS) -> str:
  """A difference with its sign ('+0.0123'); '-' when missing or NaN."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return MISSING
  return '%+.*g' % (digits, value)


def slice_feature(name: str) -> str:
  """'product:Mortgage' -> 'product'."""
  return name.split(':', 1)[0]


def largest_slices(names: Iterable[str], size: Callable[[str], float],
                   per_feature: int = SLICES_PER_FEATURE) -> List[str]:
  """Per slicing feature (sorted), its `per_feature` largest slices.

  Overall is never among them (callers put it first themselves); ties are
  broken by name so the choice is stable from run to run.
  """
  by_feature: Dict[str, List[str]] = {}
  for name in names:
    if name != OVERALL:
      by_feature.setdefault(slice_feature(name), []).append(name)
  return [name for feature in sorted(by_feature)
          for name in sorted(by_feature[feature],
                             key=lambda n: (-(size(n) or 0), n))[:per_feature]]


def slices_by_count(metrics: Mapping[str, Mapping[str, float]],
                    per_feature: int = SLICES_PER_FEATURE) -> List[str]:
  """Overall (if present), then each feature's largest slices by examples."""
  head = [OVERALL] if OVERALL in metrics else []
  return head + largest_slices(
      metrics, lambda n: metrics[n].get('example_count', 0), per_feature)


def is_small(values: Mapping[str, float]) -> bool:
  """Whether a slice has too few eval examples for its metrics to mean much."""
  return values.get('example_count', 0) < SMALL_SLICE
