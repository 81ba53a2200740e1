"""Tests of pipeline.input_data: exports streamed into spans, deduplicated.

Expected files are built here from the csv module alone (not the loader),
and the chunk size is made tiny so duplicates and multi-line narratives fall
across chunk boundaries.
"""

import csv
import os

import numpy as np
import pandas as pd
import pytest

from components.features import EXPORT_TO_FEATURE
from components.features import ID_KEY
from components.features import LABEL_KEY
from data import REAL_DATA_DIR
from data import cfpb_export
from pipeline import input_data

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                       'cfpb_export_small.csv')
REAL = [os.path.join(REAL_DATA_DIR, name) for name in (
    'cfpb_labelled_narratives.csv', 'cfpb_unlabelled_narratives.csv',
    'cfpb_labelled_no_narrative.csv')]
LABELS = {'yes': 1, 'true': 1, 'no': 0, 'false': 0}


def _records(path):
  csv.field_size_limit(2**31 - 1)
  with open(path, newline='', encoding='utf-8-sig') as f:
    rows = [r for r in csv.reader(f) if r]
  header = [h.strip() for h in rows[0]]
  return [dict(zip(header, r)) for r in rows[1:]]


def _one_line(text):
  for brk in ('\r\n', '\r', '\n'):
    text = text.replace(brk, ' ')
  return text.strip()


def _expected_files(paths, tmp_path):
  """(labelled, unlabelled) CSV bytes: first row per Complaint ID wins."""
  seen, labelled, unlabelled = set(), [], []
  for path in paths:
    for r in _records(path):
      if r['Complaint ID'] in seen:
        continue
      seen.add(r['Complaint ID'])
      row = [_one_line(r['Complaint ID'])] + [
          _one_line(r.get(c, '')) for c in EXPORT_TO_FEATURE]
      label = LABELS.get(r['Consumer disputed?'].strip().lower())
      (unlabelled if label is None else labelled).append(
          row if label is None else row + [label])
  out = []
  for name, rows, extra in (('l.csv', labelled, [LABEL_KEY]),
                            ('u.csv', unlabelled, [])):
    with open(tmp_path / name, 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow([ID_KEY] + list(EXPORT_TO_FEATURE.values()) + extra)
      writer.writerows(rows)
    out.append((tmp_path / name).read_bytes())
  return out[0], out[1], len(labelled), len(unlabelled)


def _prepare(paths, root):
  return input_data.prepare(paths, str(root / 'input'),
                            str(root / 'unlabelled'))


@pytest.fixture
def tiny_chunks(monkeypatch):
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', 3)


def _with_duplicates(tmp_path):
  """The fixture twice over: its rows, then some again (IDs met before)."""
  path = tmp_path / 'dups.csv'
  df = pd.DataFrame(_records(FIXTURE))
  again = df.iloc[[4, 0, 9, 4]].copy()
  again['Consumer disputed?'] = 'No'  # A later copy must not win.
  pd.concat([df, again]).to_csv(path, index=False)
  return str(path)


@pytest.mark.parametrize('chunk_rows', [1, 3, 4, 10_000])
def test_prepare_streams_the_bytes_of_the_whole_export(tmp_path, monkeypatch,
                                                       chunk_rows):
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', chunk_rows)
  paths = [FIXTURE, _with_duplicates(tmp_path)]
  labelled, unlabelled, n_labelled, n_unlabelled = _expected_files(
      paths, tmp_path)
  prepared = _prepare(paths, tmp_path)
  assert (prepared.span, prepared.new_span) == (1, True)
  assert (prepared.labelled_rows, prepared.unlabelled_rows) == (
      n_labelled, n_unlabelled) == (7, 3)
  assert open(prepared.csv_path, 'rb').read() == labelled
  assert (tmp_path / 'unlabelled' / 'complaints.csv').read_bytes() == unlabelled
  assert sorted(os.listdir(tmp_path / 'input')) == ['span-1']  # No staging.


def test_prepare_real_files_with_multi_line_narratives(tmp_path, monkeypatch):
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', 97)  # Chunks end mid-file.
  labelled, unlabelled, n_labelled, n_unlabelled = _expected_files(
      REAL, tmp_path)
  prepared = _prepare(REAL, tmp_path)
  assert (prepared.labelled_rows, prepared.unlabelled_rows) == (
      n_labelled, n_unlabelled) == (180 + 899, 2008)
  assert open(prepared.csv_path, 'rb').read() == labelled
  assert (tmp_path / 'unlabelled' / 'complaints.csv').read_bytes() == unlabelled


def test_same_content_reuses_the_span_untouched(tmp_path, tiny_chunks):
  first = _prepare([FIXTURE], tmp_path)
  os.utime(first.csv_path, ns=(10**18, 10**18))
  again = _prepare([FIXTURE], tmp_path)
  assert (again.span, again.new_span) == (1, False)
  assert os.stat(first.csv_path).st_mtime_ns == 10**18
  # A file that differs only after the first chunk makes a new span.
  changed = pd.DataFrame(_records(FIXTURE))
  changed.loc[9, 'State'] = 'WI'
  path = tmp_path / 'changed.csv'
  changed.to_csv(path, index=False)
  third = _prepare([str(path)], tmp_path)
  assert (third.span, third.new_span) == (2, True)
  assert os.stat(first.csv_path).st_mtime_ns == 10**18
  assert sorted(os.listdir(tmp_path / 'input')) == ['span-1', 'span-2']


def test_bad_second_file_writes_nothing(tmp_path, tiny_chunks):
  text = open(FIXTURE, encoding='utf-8').read()
  bad = tmp_path / 'truncated.csv'
  bad.write_text(text[:text.rindex(',Yes,No,')], encoding='utf-8')
  with pytest.raises(cfpb_export.ExportFormatError, match='data row 10'):
    _prepare([FIXTURE, str(bad)], tmp_path)
  assert sorted(os.listdir(tmp_path)) == ['truncated.csv']
  first = _prepare([FIXTURE], tmp_path)
  before = open(first.csv_path, 'rb').read()
  with pytest.raises(cfpb_export.ExportFormatError, match='data row 10'):
    _prepare([str(bad)], tmp_path)
  assert sorted(os.listdir(tmp_path / 'input')) == ['span-1']
  assert open(first.csv_path, 'rb').read() == before


def test_no_labelled_row_is_refused_and_writes_nothing(tmp_path, monkeypatch):
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', 500)
  path = os.path.join(REAL_DATA_DIR, 'cfpb_unlabelled_narratives.csv')
  with pytest.raises(cfpb_export.ExportFormatError, match='nothing to train'):
    _prepare([path], tmp_path)
  assert os.listdir(tmp_path) == []


def test_seen_ids_first_occurrence_across_chunks():
  seen = input_data.SeenIds()
  masks = [seen.first_seen(pd.Series(ids)) for ids in (
      ['5', '3', '5', '0123', 'A-1'],
      ['123', '0123', '3', '9000000000000000000', 'A-1'],
      ['9000000000000000000', '1', '0', '00', '0'])]
  assert [m.tolist() for m in masks] == [
      [True, True, False, True, True],
      [True, False, False, True, False],   # '123' is not '0123'.
      [False, True, True, True, False]]    # 19 digits: kept as a string.
  assert all(m.dtype == np.bool_ for m in masks)
