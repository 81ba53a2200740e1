"""Tests of the CFPB export loader: real rows and a hand-written export."""

import csv
import os

import pandas as pd
import pytest

from components.features import EXPORT_TO_FEATURE
from components.features import ID_KEY
from components.features import LABEL_KEY
from data import REAL_DATA_DIR
from data import cfpb_export

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                       'cfpb_export_small.csv')
PIPELINE_COLUMNS = [ID_KEY] + list(EXPORT_TO_FEATURE.values())

# file -> (rows, Yes, No); the counts are also checked against the csv module.
REAL_FILES = {
    'cfpb_labelled_narratives.csv': (180, 50, 130),
    'cfpb_labelled_no_narrative.csv': (899, 150, 749),
    'cfpb_unlabelled_narratives.csv': (2008, 0, 0),
}


def _csv_module_rows(path):
  """Header and records read independently of the loader."""
  csv.field_size_limit(2**31 - 1)
  with open(path, newline='', encoding='utf-8') as f:
    records = list(csv.reader(f))
  return records[0], records[1:]


@pytest.mark.parametrize('name', sorted(REAL_FILES))
def test_reads_real_file_exactly(name):
  path = os.path.join(REAL_DATA_DIR, name)
  rows, yes, no = REAL_FILES[name]
  header, records = _csv_module_rows(path)
  df = cfpb_export.read_export(path)

  assert list(df.columns) == cfpb_export.EXPORT_COLUMNS
  assert len(df) == len(records) == rows
  label = header.index('Consumer disputed?')
  assert sum(r[label] == 'Yes' for r in records) == yes
  assert sum(r[label] == 'No' for r in records) == no
  labelled, unlabelled = cfpb_export.split_labelled(df)
  assert len(labelled) == yes + no
  assert len(unlabelled) == rows - yes - no
  assert (labelled['Consumer disputed?'] == 'Yes').sum() == yes
  # Every value, narratives included, is exactly what the csv module reads.
  for column in cfpb_export.EXPORT_COLUMNS:
    position = header.index(column)
    assert df[column].tolist() == [r[position] for r in records], column


def test_real_files_keep_zip_codes_and_empty_values_as_strings():
  df = cfpb_export.read_export(
      os.path.join(REAL_DATA_DIR, 'cfpb_labelled_no_narrative.csv'))
  assert df.applymap(lambda v: isinstance(v, str)).all().all()
  assert '04747' in set(df['ZIP code'])
  assert (df['Consumer complaint narrative'] == '').all()


def test_real_narratives_with_line_breaks_and_long_text():
  df = cfpb_export.read_export(
      os.path.join(REAL_DATA_DIR, 'cfpb_unlabelled_narratives.csv'))
  text = df['Consumer complaint narrative']
  assert text.str.len().max() > 24000
  assert text.str.contains('\r\n').sum() > 0
  assert text.str.contains('\n').sum() > 600
  frame = cfpb_export.to_pipeline_frame(df)
  assert LABEL_KEY not in frame.columns
  assert not frame['narrative'].str.contains('\r|\n').any()
  # Replacing each line break by one space changes no whitespace token.
  assert frame['narrative'].str.split().tolist() == text.str.split().tolist()


def test_fixture_split_and_pipeline_frame():
  df = cfpb_export.read_export(FIXTURE)
  assert list(df.columns) == cfpb_export.EXPORT_COLUMNS  # Index col dropped.
  labelled, unlabelled = cfpb_export.split_labelled(df)
  assert labelled['Complaint ID'].tolist() == [
      '1906001', '1240002', '2021003', '2280004', '2220007', '1530008',
      '1690010']
  assert unlabelled['Complaint ID'].tolist() == ['2540005', '2840006',
                                                 '2370009']
  assert unlabelled['Consumer disputed?'].tolist() == ['N/A', '', 'Maybe']

  frame = cfpb_export.to_pipeline_frame(labelled)
  assert list(frame.columns) == PIPELINE_COLUMNS + [LABEL_KEY]
  assert frame[LABEL_KEY].tolist() == [1, 0, 1, 0, 1, 0, 0]
  assert frame[LABEL_KEY].dtype == 'int64'
  first = frame.to_dict('records')[0]
  assert first['narrative'] == ('My escrow payment went up by {$410.00} '
                                'without notice.   I called XXXX times. '
                                'Nobody explained why.')
  assert first['zip_code'] == '606XX'
  assert first['issue'] == 'Loan servicing, payments, escrow account'
  assert frame.loc[1, 'zip_code'] == '02108'
  assert frame.loc[1, 'narrative'] == ''
  assert frame.loc[1, 'tags'] == 'Older American'
  assert frame.loc[2, 'narrative'] == (
      'They said "we never received it" and charged me {$35.00}, twice.')
  assert frame.loc[3, 'narrative'] == (
      'I do not owe this debt. Please remove it.')
  assert frame.loc[4, 'narrative'].count('   ') == 1
  assert len(frame.loc[4, 'narrative']) > 24000
  assert frame.loc[5, 'company'] == 'Ocwen Financial Corporation'
  assert frame.loc[6, 'state'] == '' and frame.loc[6, 'zip_code'] == ''
  assert frame.loc[6, 'submitted_via'] == 'Phone'


def test_fixture_narratives_byte_identical_to_csv_module():
  header, records = _csv_module_rows(FIXTURE)
  df = cfpb_export.read_export(FIXTURE)
  position = header.index('Consumer complaint narrative')
  assert df['Consumer complaint narrative'].tolist() == [
      r[position] for r in records]
  assert '\r\n' in df.loc[3, 'Consumer complaint narrative']


def test_pipeline_frame_label_modes():
  df = cfpb_export.read_export(FIXTURE)
  with pytest.raises(ValueError, match='3 of 10 rows have no yes/no'):
    cfpb_export.to_pipeline_frame(df)
  assert list(cfpb_export.to_pipeline_frame(
      df, include_label=False).columns) == PIPELINE_COLUMNS
  _, unlabelled = cfpb_export.split_labelled(df)
  with pytest.raises(ValueError):
    cfpb_export.to_pipeline_frame(unlabelled, include_label=True)


@pytest.mark.parametrize('value,expected', [
    ('Yes', 1), ('yes', 1), (' TRUE ', 1), ('true', 1), ('No', 0),
    ('false', 0), ('FALSE', 0), ('N/A', None), ('', None), ('Maybe', None)])
def test_parse_label(value, expected):
  assert cfpb_export.parse_label(value) == expected


def test_missing_columns_error_names_columns_and_file(tmp_path):
  header, records = _csv_module_rows(FIXTURE)
  keep = [i for i, name in enumerate(header)
          if name not in ('Consumer disputed?', 'State')]
  path = tmp_path / 'broken.csv'
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    for record in [header] + records:
      writer.writerow([record[i] for i in keep])
  with pytest.raises(cfpb_export.ExportFormatError) as error:
    cfpb_export.read_export(str(path))
  message = str(error.value)
  assert str(path) in message
  assert "'State'" in message and "'Consumer disputed?'" in message


def test_optional_columns_may_be_missing_and_order_may_differ(tmp_path):
  df = cfpb_export.read_export(FIXTURE)
  reordered = df[list(reversed(cfpb_export.REQUIRED_COLUMNS))]
  path = tmp_path / 'minimal.csv'
  reordered.to_csv(path, index=False)
  again = cfpb_export.read_export(str(path))
  assert list(again.columns) == cfpb_export.EXPORT_COLUMNS
  assert (again['Company public response'] == '').all()
  pd.testing.assert_frame_equal(again[cfpb_export.REQUIRED_COLUMNS],
                                df[cfpb_export.REQUIRED_COLUMNS])


@pytest.mark.parametrize('content,match', [
    (b'', 'is empty'),
    (b'\n\n', 'is empty'),
    (b'PK\x03\x04rest-of-a-zip', 'compressed'),
    (b'{"complaints": []}\n', 'lacks required column'),
    (b'\xff\xfe\x00\x00binary', 'not UTF-8'),
])
def test_not_an_export_gives_clear_error(tmp_path, content, match):
  path = tmp_path / 'complaints.csv'
  path.write_bytes(content)
  with pytest.raises(cfpb_export.ExportFormatError, match=match):
    cfpb_export.read_export(str(path))


def test_truncated_row_is_an_error(tmp_path):
  text = open(FIXTURE, encoding='utf-8').read()
  path = tmp_path / 'truncated.csv'
  path.write_text(text[:text.rindex(',Yes,No,')], encoding='utf-8')
  with pytest.raises(cfpb_export.ExportFormatError, match='data row 10 has'):
    cfpb_export.read_export(str(path))


def test_field_size_limit_restored():
  before = csv.field_size_limit()
  cfpb_export.read_export(FIXTURE)
  assert csv.field_size_limit() == before


def _pipeline_frame():
  labelled, _ = cfpb_export.split_labelled(cfpb_export.read_export(FIXTURE))
  return cfpb_export.to_pipeline_frame(labelled)


def test_write_pipeline_csv_is_one_record_per_line(tmp_path):
  frame = _pipeline_frame()
  path = str(tmp_path / 'input' / 'data.csv')
  assert cfpb_export.write_pipeline_csv(frame, path)
  with open(path, 'rb') as f:
    content = f.read()
  assert b'\r' not in content
  lines = content.decode('utf-8').split('\n')
  assert lines[-1] == '' and len(lines) == len(frame) + 2
  # Like CsvExampleGen: each line on its own is a complete record.
  parsed = [next(csv.reader([line])) for line in lines[:-1]]
  assert parsed[0] == list(frame.columns)
  assert all(len(record) == len(frame.columns) for record in parsed)
  assert [r[-1] for r in parsed[1:]] == ['1', '0', '1', '0', '1', '0', '0']
  assert parsed[2][PIPELINE_COLUMNS.index('zip_code')] == '02108'


def test_write_pipeline_csv_only_when_content_changes(tmp_path):
  frame = _pipeline_frame()
  path = str(tmp_path / 'data.csv')
  assert cfpb_export.write_pipeline_csv(frame, path)
  os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
  before = os.stat(path)

  assert not cfpb_export.write_pipeline_csv(frame.copy(), path)
  after = os.stat(path)
  assert after.st_mtime_ns == before.st_mtime_ns
  assert after.st_ino == before.st_ino

  changed = frame.copy()
  changed.loc[0, 'state'] = 'WI'
  assert cfpb_export.write_pipeline_csv(changed, path)
  assert os.stat(path).st_mtime_ns != before.st_mtime_ns
  assert pd.read_csv(path, dtype=str, keep_default_na=False).loc[
      0, 'state'] == 'WI'
  assert os.listdir(tmp_path) == ['data.csv']  # No temporary file left.


def test_write_pipeline_csv_rejects_line_breaks(tmp_path):
  frame = pd.DataFrame({ID_KEY: ['1'], 'narrative': ['two\nlines']})
  with pytest.raises(ValueError, match='line breaks'):
    cfpb_export.write_pipeline_csv(frame, str(tmp_path / 'x.csv'))
  assert not os.path.exists(tmp_path / 'x.csv')


def test_cli_converts_fixture(tmp_path, capsys):
  out = str(tmp_path / 'pipeline.csv')
  assert cfpb_export.main([FIXTURE, '--out', out]) == 0
  assert '7 labelled rows' in capsys.readouterr().out
  assert len(pd.read_csv(out)) == 7
  assert cfpb_export.main([str(tmp_path / 'missing.csv'), '--out', out]) == 2
  assert 'error' in capsys.readouterr().err


# Streaming: chunks of whole records, a staged writer, bounded memory.


def _records_by_csv_module(path):
  """The data records (blank lines skipped), by the csv module alone."""
  header, records = _csv_module_rows(path)
  return header, [r for r in records if r]


@pytest.mark.parametrize('chunk_rows', [1, 2, 3, 4, 7, 1000])
def test_iter_export_chunks_join_to_the_csv_module_records(chunk_rows):
  header, records = _records_by_csv_module(FIXTURE)
  chunks = list(cfpb_export.iter_export(FIXTURE, chunk_rows=chunk_rows))
  assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1)
  assert 0 < len(chunks[-1]) <= chunk_rows
  assert sum(map(len, chunks)) == len(records) == 10
  for column in cfpb_export.EXPORT_COLUMNS:
    position = header.index(column)
    assert [v for c in chunks for v in c[column]] == [
        r[position] for r in records], column


def test_chunk_boundary_right_after_a_multi_line_narrative():
  # Row 1 of the fixture is a three-line quoted narrative: a chunk of one
  # record must hold it whole, and the next chunk starts at row 2.
  header, records = _records_by_csv_module(FIXTURE)
  narrative = header.index('Consumer complaint narrative')
  assert records[0][narrative].count('\n') >= 2
  first, second = list(cfpb_export.iter_export(FIXTURE, chunk_rows=1))[:2]
  assert first['Consumer complaint narrative'].tolist() == [
      records[0][narrative]]
  assert second['Complaint ID'].tolist() == ['1240002']


def test_chunks_by_characters_keep_long_multi_line_narratives_whole():
  path = os.path.join(REAL_DATA_DIR, 'cfpb_unlabelled_narratives.csv')
  header, records = _records_by_csv_module(path)
  position = header.index('Consumer complaint narrative')
  # A chunk ends once it holds 5,000 characters: mostly inside the text of
  # some narrative, never between two of its lines.
  chunks = list(cfpb_export.iter_export(path, chunk_chars=5000))
  assert len(chunks) > 200
  assert [v for c in chunks for v in c['Consumer complaint narrative']] == [
      r[position] for r in records]
  assert sum('\r\n' in v for c in chunks
             for v in c['Consumer complaint narrative']) > 0


def test_iter_export_row_numbers_count_across_chunks(tmp_path):
  text = open(FIXTURE, encoding='utf-8').read()
  path = tmp_path / 'truncated.csv'
  path.write_text(text[:text.rindex(',Yes,No,')], encoding='utf-8')
  before = csv.field_size_limit()
  chunks = cfpb_export.iter_export(str(path), chunk_rows=3)
  assert len(next(chunks)) == 3  # Earlier chunks come before the error.
  with pytest.raises(cfpb_export.ExportFormatError, match='data row 10 has'):
    list(chunks)
  assert csv.field_size_limit() == before  # Restored after the error.


def _write_in_chunks(frame, directory, path, size):
  with cfpb_export.PipelineCsvWriter(directory) as writer:
    for start in range(0, len(frame), size):
      writer.write(frame.iloc[start:start + size])
    return writer.commit(path)


@pytest.mark.parametrize('size', [1, 2, 3, 100])
def test_writer_chunks_give_the_bytes_of_one_write(tmp_path, size):
  frame = _pipeline_frame()
  whole = str(tmp_path / 'whole.csv')
  cfpb_export.write_pipeline_csv(frame, whole)
  chunked = str(tmp_path / 'out' / 'chunked.csv')
  assert _write_in_chunks(frame, str(tmp_path / 'out'), chunked, size)
  assert open(chunked, 'rb').read() == open(whole, 'rb').read()
  assert os.listdir(tmp_path / 'out') == ['chunked.csv']  # Staging gone.


def test_writer_leaves_an_identical_file_untouched(tmp_path):
  frame = _pipeline_frame()
  path = str(tmp_path / 'data.csv')
  assert _write_in_chunks(frame, str(tmp_path), path, 2)
  os.utime(path, ns=(10**18, 10**18))
  assert not _write_in_chunks(frame, str(tmp_path), path, 3)
  assert os.stat(path).st_mtime_ns == 10**18
  changed = frame.copy()
  changed.loc[6, 'state'] = 'WI'  # Differs in the last chunk only.
  assert _write_in_chunks(changed, str(tmp_path), path, 3)
  assert pd.read_csv(path, dtype=str, keep_default_na=False).loc[
      6, 'state'] == 'WI'
  assert os.listdir(tmp_path) == ['data.csv']


def test_writer_error_keeps_the_old_file_and_leaves_no_staging(tmp_path):
  frame = _pipeline_frame()
  path = str(tmp_path / 'data.csv')
  cfpb_export.write_pipeline_csv(frame, path)
  before = open(path, 'rb').read()
  broken = frame.copy()
  broken.loc[5, 'narrative'] = 'two\nlines'
  with pytest.raises(ValueError, match='line breaks'):
    _write_in_chunks(broken, str(tmp_path), path, 3)
  assert open(path, 'rb').read() == before
  assert os.listdir(tmp_path) == ['data.csv']
  with cfpb_export.PipelineCsvWriter(str(tmp_path / 'new' / 'dir')) as writer:
    writer.write(frame.iloc[:2])
    with pytest.raises(ValueError, match='differ'):
      writer.write(frame.iloc[2:, :3])
  assert os.listdir(tmp_path) == ['data.csv']  # Folders it made, removed.


def test_convert_error_late_in_the_export_keeps_the_old_output(tmp_path,
                                                                monkeypatch):
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', 2)
  out = str(tmp_path / 'pipeline.csv')
  assert cfpb_export.convert(FIXTURE, out)['labelled_rows'] == 7
  before = open(out, 'rb').read()
  text = open(FIXTURE, encoding='utf-8').read()
  truncated = tmp_path / 'truncated.csv'
  truncated.write_text(text[:text.rindex(',Yes,No,')], encoding='utf-8')
  with pytest.raises(cfpb_export.ExportFormatError, match='data row 10'):
    cfpb_export.convert(str(truncated), out)
  assert open(out, 'rb').read() == before
  assert sorted(os.listdir(tmp_path)) == ['pipeline.csv', 'truncated.csv']


def test_convert_streams_to_the_same_bytes_as_in_memory(tmp_path,
                                                       monkeypatch):
  # The expected file is built here with the csv module, not the loader.
  header, records = _records_by_csv_module(FIXTURE)
  label = header.index('Consumer disputed?')
  expected = tmp_path / 'expected.csv'
  with open(expected, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(PIPELINE_COLUMNS + [LABEL_KEY])
    for r in records:
      value = r[label].strip().lower()
      if value not in ('yes', 'no', 'true', 'false'):
        continue
      row = [r[header.index('Complaint ID')].strip()]
      for column in EXPORT_TO_FEATURE:
        text = r[header.index(column)]
        for brk in ('\r\n', '\r', '\n'):
          text = text.replace(brk, ' ')
        row.append(text.strip())
      writer.writerow(row + [1 if value in ('yes', 'true') else 0])
  monkeypatch.setattr(cfpb_export, 'CHUNK_ROWS', 3)
  out = tmp_path / 'out.csv'
  summary = cfpb_export.convert(FIXTURE, str(out))
  assert out.read_bytes() == expected.read_bytes()
  assert summary['disputed_rate'] == 3 / 7
