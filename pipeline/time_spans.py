"""A CSV ingested as spans by period of its timestamp (`run --span-by`).

A dataset spec that declares a timestamp column (with its format: epoch
seconds, as the taxi CSV's `trip_start_timestamp`, or a strftime format, as
the CFPB export's `%m/%d/%Y`) can be cut into one span per quarter or month,
so the training window (`--window N`: the latest N spans the store has
ingested) is "the last N periods". A period with fewer than
`min_span_rows` labelled rows is too small to judge a model on (its eval
split would hold a few dozen rows): it is merged with the next one, and a
trailing one with the one before; the plan says which were merged.

ExampleGen ingests one span per pipeline run (the latest span folder), so
the periods are ingested one run each, oldest first, and only the periods
that can still be in the window: the last `window` among those this store
has not ingested yet (recorded in `<output>/input/periods.json`, with each
span's content hash, so a period whose rows changed is ingested again and
an unchanged one is not). `--until PERIOD` stops at a period: replaying
history one period at a time (what the loop does round by round).
"""

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

PERIODS = {'quarter': 'Q', 'month': 'M'}
EPOCH_SECONDS = 'epoch_seconds'
RECORD_FILE = 'periods.json'


class PeriodError(ValueError):
  """Timestamps that cannot be cut into periods: one line, exit 2."""


@dataclasses.dataclass(frozen=True)
class PeriodGroup:
  """One span's rows: a period, or consecutive small ones merged."""
  periods: List[str]        # e.g. ['2016Q1', '2016Q2']
  rows: pd.DataFrame        # the CSV's rows (strings), in the file's order

  @property
  def label(self) -> str:
    return (self.periods[0] if len(self.periods) == 1
            else f'{self.periods[0]}-{self.periods[-1]}')


def timestamps(frame: pd.DataFrame, spec, source: str) -> pd.Series:
  """The spec's timestamp column as UTC datetimes (NaT where empty).

  Raises:
    PeriodError: no timestamp in the spec, or a value that does not parse.
  """
  column, fmt = spec.timestamp_column, spec.timestamp_format
  if not column:
    raise PeriodError(f'the dataset spec {spec.name} declares no timestamp '
                      'column: add timestamp: {column: ..., format: ...} to '
                      'it, or leave out --span-by')
  text = frame[column].astype(str).str.strip()
  present = text != ''
  if fmt == EPOCH_SECONDS:
    numbers = pd.to_numeric(text.where(present), errors='coerce')
    parsed = pd.to_datetime(numbers, unit='s', utc=True)
  else:
    parsed = pd.to_datetime(text.where(present), format=fmt, errors='coerce',
                            utc=True)
  bad = text[present & parsed.isna()]
  if len(bad):
    raise PeriodError(
        f'{source}: {len(bad):,} value(s) of the timestamp {column!r} do not '
        f'parse as {fmt} (first: {bad.iloc[0]!r} in row '
        f'{int(bad.index[0]) + 2}): fix them or the spec\'s format')
  return parsed


def plan(frame: pd.DataFrame, spec, span_by: str, min_rows: int,
         source: str = 'the data', until: Optional[str] = None
         ) -> Dict[str, Any]:
  """The CSV's labelled rows cut into period groups, in time order.

  Returns:
    {'groups': [PeriodGroup], 'merged': [lines saying what was merged],
     'no_timestamp': rows left out for an empty timestamp,
     'after_until': rows left out for being after `until`}.

  Raises:
    PeriodError: bad timestamps, an unknown period, or no row left.
  """
  if span_by not in PERIODS:
    raise PeriodError(f'--span-by must be one of {", ".join(PERIODS)}, not '
                      f'{span_by!r}')
  times = timestamps(frame, spec, source)
  period = times.dt.tz_localize(None).dt.to_period(PERIODS[span_by])
  keep = times.notna()
  no_timestamp = int((~keep).sum())
  after_until = 0
  if until:
    try:
      last = pd.Period(until, freq=PERIODS[span_by])
    except ValueError:
      raise PeriodError(f'--until {until!r} is not a {span_by} (e.g. '
                        f'{"2014Q2" if span_by == "quarter" else "2014-05"})'
                        ) from None
    later = keep & (period > last)
    after_until = int(later.sum())
    keep &= ~later
  if not keep.any():
    raise PeriodError(f'{source}: no row with a timestamp'
                      + (f' up to {until}' if until else ''))
  labelled = frame[keep]
  counts = period[keep].value_counts().sort_index()
  groups, merged, pending = [], [], []
  for value, count in counts.items():
    pending.append((str(value), int(count)))
    if sum(c for _, c in pending) >= min_rows:
      groups.append(pending)
      pending = []
  if pending:   # a trailing group too small: joins the one before
    if groups:
      groups[-1] = groups[-1] + pending
    else:
      groups.append(pending)
  for group in groups:
    if len(group) > 1:
      merged.append(
          ', '.join(f'{p} ({c:,} rows)' for p, c in group) +
          f': fewer than {min_rows:,} rows apart, one span')
  period_text = period.astype(str)
  built = [PeriodGroup([p for p, _ in group],
                       labelled[period_text[keep].isin([p for p, _ in group])])
           for group in groups]
  return {'groups': built, 'merged': merged, 'no_timestamp': no_timestamp,
          'after_until': after_until}


def content_hash(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def read_record(input_root: str) -> List[Dict[str, Any]]:
  """The periods this output's input holds as spans (oldest first)."""
  path = os.path.join(input_root, RECORD_FILE)
  if not os.path.isfile(path):
    return []
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def write_record(input_root: str, record: Sequence[Dict[str, Any]]) -> None:
  """periods.json, replaced atomically."""
  path = os.path.join(input_root, RECORD_FILE)
  temp = path + '.tmp'
  with open(temp, 'w', encoding='utf-8') as f:
    json.dump(list(record), f, indent=1)
  os.replace(temp, path)
