"""Periods of a timestamp column, small ones merged (pipeline/time_spans.py).

The rows are built with known timestamps, so which rows land in which
period, and which periods are merged, is worked out by hand.
"""

import calendar

import pandas as pd
import pytest

from components import dataset_spec
from pipeline import period_runs
from pipeline import time_spans


def _epoch(year, month, day=15):
  return str(calendar.timegm((year, month, day, 12, 0, 0)))


def _taxi_rows(counts):
  """{(year, month): rows} -> taxi-like CSV rows (strings) at those times."""
  spec = dataset_spec.load('taxi')
  rows = []
  for (year, month), count in counts.items():
    for i in range(count):
      row = {column: '1' for column in spec.columns}
      row['trip_start_timestamp'] = _epoch(year, month, 1 + i % 27)
      row['big_tipper'] = str(i % 2)
      rows.append(row)
  return spec, pd.DataFrame(rows)


def test_quarters_with_small_ones_merged_forward_and_a_small_tail_back():
  spec, frame = _taxi_rows({(2014, 1): 50, (2014, 3): 10,   # Q1: 60
                            (2014, 4): 20,                 # Q2: 20 (small)
                            (2014, 8): 70,                 # Q3: 70
                            (2014, 11): 30,                # Q4: 30 (small)
                            (2015, 2): 10})                # 2015Q1: 10
  found = time_spans.plan(frame, spec, 'quarter', min_rows=50)
  # Q1 stands alone (60); Q2 (20) waits for Q3 (20 + 70 = 90); Q4 (30)
  # and 2015Q1 (10) make 40 < 50 at the end: they join Q2-Q3.
  assert [g.periods for g in found['groups']] == [
      ['2014Q1'], ['2014Q2', '2014Q3', '2014Q4', '2015Q1']]
  assert [len(g.rows) for g in found['groups']] == [60, 130]
  assert found['groups'][1].label == '2014Q2-2015Q1'
  assert found['merged'] == [
      '2014Q2 (20 rows), 2014Q3 (70 rows), 2014Q4 (30 rows), 2015Q1 (10 '
      'rows): fewer than 50 rows apart, one span']


def test_months_and_until():
  spec, frame = _taxi_rows({(2014, 1): 5, (2014, 2): 6, (2014, 3): 7})
  found = time_spans.plan(frame, spec, 'month', min_rows=1, until='2014-02')
  assert [g.label for g in found['groups']] == ['2014-01', '2014-02']
  assert found['after_until'] == 7


def test_a_strftime_format_and_empty_timestamps():
  spec = dataset_spec.load('cfpb')   # Date received, %m/%d/%Y
  frame = pd.DataFrame({'Date received': ['03/31/2015', '04/01/2015', '',
                                          '12/31/2015']})
  found = time_spans.plan(frame, spec, 'quarter', min_rows=1)
  assert [g.label for g in found['groups']] == ['2015Q1', '2015Q2',
                                                '2015Q4']
  assert found['no_timestamp'] == 1


@pytest.mark.parametrize('values, until, message', [
    (['03/31/2015', '2015-04-01'], None,
     "1 value(s) of the timestamp 'Date received' do not parse as %m/%d/%Y "
     "(first: '2015-04-01' in row 3)"),
    (['03/31/2015'], 'Q7', "--until 'Q7' is not a quarter"),
    (['03/31/2015'], '2014Q4', 'no row with a timestamp up to 2014Q4'),
])
def test_timestamps_that_cannot_be_cut_are_one_line(values, until, message):
  spec = dataset_spec.load('cfpb')
  frame = pd.DataFrame({'Date received': values})
  with pytest.raises(time_spans.PeriodError) as error:
    time_spans.plan(frame, spec, 'quarter', min_rows=1, source='x.csv',
                    until=until)
  assert message in str(error.value)
  assert '\n' not in str(error.value)


def test_a_spec_without_a_timestamp_says_what_to_add():
  spec = dataset_spec.load('penguins')
  with pytest.raises(time_spans.PeriodError, match='declares no timestamp'):
    time_spans.plan(pd.DataFrame({'year': ['2007']}), spec, 'quarter', 1)


def _groups(*labels):
  """PeriodGroups of one row each, by label."""
  return [time_spans.PeriodGroup([label], pd.DataFrame({'x': [label]}))
          for label in labels]


def _record(groups):
  return [{'label': g.label, 'periods': g.periods,
           'rows_sha256': period_runs.rows_sha256(g)} for g in groups]


def test_a_first_ingestion_takes_the_periods_that_fit_the_window():
  groups = _groups('2013Q1', '2013Q2', '2013Q3')
  older, todo, changed = period_runs.choose(groups, [], window=2)
  assert [g.label for g in older] == ['2013Q1']      # never in the window
  assert [g.label for g in todo] == ['2013Q2', '2013Q3']
  assert changed == []


def test_only_periods_after_the_last_ingested_are_new():
  groups = _groups('2013Q1', '2013Q2', '2013Q3', '2013Q4')
  record = _record(groups[:2])
  older, todo, _ = period_runs.choose(groups, record, window=4)
  assert older == [] and [g.label for g in todo] == ['2013Q3', '2013Q4']
  # Everything ingested: nothing to do.
  assert period_runs.choose(groups, _record(groups), 4)[:2] == ([], [])


def test_a_changed_ingested_period_is_reported_not_ingested_again():
  groups = _groups('2013Q1', '2013Q2')
  record = _record(groups)
  record[0]['rows_sha256'] = 'rows as they were'
  older, todo, changed = period_runs.choose(groups, record, window=2)
  assert (older, todo, changed) == ([], [], ['2013Q1'])


def test_bad_period_options_are_one_line_exit_2(tmp_path):
  from tests.conftest import cli_in_process  # pylint: disable=g-import-not-at-top
  for args, message in [
      (('--dataset', 'taxi', '--until', '2013Q2'), '--until needs --span-by'),
      (('--dataset', 'taxi', '--span-by', 'quarter', '--until', 'spring'),
       "--until 'spring' is not a quarter"),
      (('--dataset', 'penguins', '--span-by', 'month'),
       'declares no timestamp column'),
      (('--dataset', 'taxi', '--span-by', 'quarter', '--from-input'),
       'not with --from-input')]:
    proc = cli_in_process('run', '--output', str(tmp_path / 'out'), *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out' / 'input').exists()
