"""Reads CFPB complaint exports and turns them into the pipeline's input CSV.

The CFPB publishes the Consumer Complaint Database as one CSV,
`complaints.csv` (https://www.consumerfinance.gov/data-research/
consumer-complaints/).
Its rows hold multi-line quoted narratives of up to tens of thousands of
characters, embedded quotes, masked ZIP codes ("606XX") and a label,
"Consumer disputed?", that is "Yes"/"No" until April 2017 and empty or "N/A"
afterwards. `read_export` reads such a file exactly as written (every value a
string, narratives byte-identical); `split_labelled` keeps rows without a usable
label apart; `to_pipeline_frame` and `write_pipeline_csv` produce the one-line-
per-row CSV that TFX's CsvExampleGen can read.

The full export is gigabytes, so conversion streams: `iter_export` yields the
file in chunks of whole records (a chunk ends only between records, so a
multi-line quoted narrative is never cut) bounded in rows and in characters,
and `PipelineCsvWriter` appends each converted chunk to a staging file that
replaces the destination only at the end, and only if its bytes differ.
Memory is bounded by one chunk, whatever the file's size; `read_export` is
the same reader with every chunk joined, for files that fit in memory.

To bring another CSV, map its columns to `EXPORT_COLUMNS` (at least the
pipeline's columns, see `REQUIRED_COLUMNS`) and use the same functions.
"""

import argparse
import csv
import json
import os
import sys
import uuid
from typing import Dict, Iterator, List, Optional, Tuple

import pandas as pd

from components.features import EXPORT_TO_FEATURE
from components.features import ID_EXPORT_COLUMN
from components.features import ID_KEY
from components.features import LABEL_EXPORT_COLUMN
from components.features import LABEL_KEY
from data import cli
from data import files

# The CFPB export's columns, in the export's order.
EXPORT_COLUMNS: List[str] = [
    'Date received', 'Product', 'Sub-product', 'Issue', 'Sub-issue',
    'Consumer complaint narrative', 'Company public response', 'Company',
    'State', 'ZIP code', 'Tags', 'Consumer consent provided?',
    'Submitted via', 'Date sent to company', 'Company response to consumer',
    'Timely response?', 'Consumer disputed?', 'Complaint ID',
]

# Columns the pipeline reads; the other export columns may be absent and are
# then read as empty strings.
REQUIRED_COLUMNS: List[str] = [
    c for c in EXPORT_COLUMNS
    if c in EXPORT_TO_FEATURE or c in (ID_EXPORT_COLUMN, LABEL_EXPORT_COLUMN)]

_LABEL_VALUES: Dict[str, int] = {'yes': 1, 'true': 1, 'no': 0, 'false': 0}
_LINE_BREAK = r'\r\n|\r|\n'
# Narratives can exceed the csv module's default 128 KiB field limit in the
# full export; a C long caps the limit on some platforms.
_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)
# A chunk of `iter_export` ends after this many records or once its fields
# hold this many characters, whichever comes first: about 150 MB of Python
# objects at most, while chunks stay large enough that pandas' per-chunk
# overhead is negligible.
CHUNK_ROWS = 20_000
CHUNK_CHARS = 16 * 2**20
# Block size of the streaming comparison of a staged file with the old one.
_COMPARE_BLOCK = 2**20


class ExportFormatError(ValueError):
  """The file is not a CFPB export the pipeline can read."""


def parse_label(value: str) -> Optional[int]:
  """1 for yes/true, 0 for no/false (any case), None for anything else."""
  return _LABEL_VALUES.get(str(value).strip().lower())


def read_export(path: str) -> pd.DataFrame:
  """Reads a CFPB export CSV, every value as the string written in the file.

  Columns outside the export layout (e.g. an index column added by another
  tool) are ignored; optional layout columns that are absent are filled with
  empty strings. Values are not stripped or converted: ZIP codes such as
  "02108" stay strings, empty fields stay "", narratives keep their line
  breaks. The whole file is held in memory: for the full export, iterate
  over `iter_export` instead.

  Args:
    path: The CSV file (UTF-8, with or without a byte-order mark).

  Returns:
    A DataFrame with exactly `EXPORT_COLUMNS`, in that order.

  Raises:
    ExportFormatError: The file is empty, compressed, not UTF-8 text, lacks
      required columns, or has rows whose field count differs from the header.
    OSError: The file cannot be opened (missing, a directory, unreadable).
  """
  chunks = list(iter_export(path))
  if not chunks:
    return _frame([], {})
  if len(chunks) == 1:
    return chunks[0]
  return pd.concat(chunks, ignore_index=True)


def iter_export(path: str, chunk_rows: Optional[int] = None,
                chunk_chars: Optional[int] = None) -> Iterator[pd.DataFrame]:
  """Yields a CFPB export in chunks of whole records, as `read_export` reads it.

  The csv module parses the stream, so a quoted narrative spanning many lines
  is one record and a chunk ends only between records. Rows are numbered
  across chunks in error messages. A record is checked when its chunk is
  read: a bad row near the end of the file raises after earlier chunks were
  yielded, so callers stage their output until the iteration ends.

  Args:
    path: The CSV file (UTF-8, with or without a byte-order mark).
    chunk_rows: At most this many records per chunk (None: `CHUNK_ROWS`).
    chunk_chars: A chunk ends once its fields hold this many characters
      (a single longer record is still one chunk; None: `CHUNK_CHARS`).

  Yields:
    DataFrames with exactly `EXPORT_COLUMNS` and a fresh index each; none
    for a file with a header and no records.

  Raises:
    As `read_export`.
  """
  chunk_rows = chunk_rows or CHUNK_ROWS
  chunk_chars = chunk_chars or CHUNK_CHARS
  _check_not_compressed(path)
  old_limit = csv.field_size_limit(_FIELD_SIZE_LIMIT)
  try:
    with open(path, newline='', encoding='utf-8-sig') as f:
      reader = csv.reader(f)
      header = _read_header(reader, path)
      positions = _column_positions(header, path)
      records, chars, number = [], 0, 0
      for record in reader:
        if not record:  # Skip blank lines.
          continue
        number += 1
        if len(record) != len(header):
          raise ExportFormatError(
              '%s: data row %d has %d fields but the header has %d '
              '(truncated download, or unquoted commas/line breaks?).' %
              (path, number, len(record), len(header)))
        records.append(record)
        chars += sum(map(len, record))
        if len(records) >= chunk_rows or chars >= chunk_chars:
          yield _frame(records, positions)
          records, chars = [], 0
      if records:
        yield _frame(records, positions)
  except UnicodeDecodeError as e:
    raise ExportFormatError(
        '%s is not UTF-8 text (%s). Save the export as UTF-8 CSV.' %
        (path, e)) from e
  except csv.Error as e:
    raise ExportFormatError('%s is not a readable CSV: %s' % (path, e)) from e
  finally:
    csv.field_size_limit(old_limit)


def _read_header(reader, path: str) -> List[str]:
  """The header record; ExportFormatError if the file has none."""
  header = next(reader, None)
  if not header or not any(name.strip() for name in header):
    raise ExportFormatError(
        '%s is empty; expected a CSV whose first line is the CFPB export '
        'header (%s).' % (path, ', '.join(EXPORT_COLUMNS)))
  return header


def _frame(records: List[List[str]],
           positions: Dict[str, int]) -> pd.DataFrame:
  """Records in the export layout; absent optional columns as ''."""
  columns = {}
  for name in EXPORT_COLUMNS:
    position = positions.get(name)
    columns[name] = ([record[position] for record in records]
                     if position is not None else [''] * len(records))
  return pd.DataFrame(columns, columns=EXPORT_COLUMNS, dtype=object)


def split_labelled(df: pd.DataFrame) -> Tuple[pd.DataFrame, pd.DataFrame]:
  """Splits rows with a yes/no label from rows without a usable one.

  Args:
    df: Rows in the export layout (e.g. from `read_export`).

  Returns:
    (labelled, unlabelled): rows whose "Consumer disputed?" parses with
    `parse_label`, and the others (empty, "N/A" or unparseable), each in the
    original order with a fresh index.
  """
  has_label = df[LABEL_EXPORT_COLUMN].map(parse_label).notna()
  return (df[has_label].reset_index(drop=True),
          df[~has_label].reset_index(drop=True))


def to_pipeline_frame(df: pd.DataFrame,
                      include_label: Optional[bool] = None) -> pd.DataFrame:
  """Converts export rows to the pipeline's input columns.

  Values are stripped of surrounding whitespace, missing values become "",
  and line breaks (\\r\\n, \\r, \\n) become one space each, because
  CsvExampleGen reads one record per line (the model tokenizes on
  whitespace, so no token changes).

  Args:
    df: Rows in the export layout.
    include_label: True to require and add `LABEL_KEY` (int 0/1), False to
      leave it out, None to add it if every row is labelled and leave it out
      if none is.

  Returns:
    A DataFrame with `ID_KEY`, the values of `EXPORT_TO_FEATURE` in order,
    then `LABEL_KEY` if included.

  Raises:
    ExportFormatError: A needed column is missing.
    ValueError: The label is requested (or None and the rows are mixed) but
      some rows have no yes/no label; use `split_labelled` first.
  """
  needed = [ID_EXPORT_COLUMN] + list(EXPORT_TO_FEATURE)
  if include_label:
    needed.append(LABEL_EXPORT_COLUMN)
  missing = [c for c in needed if c not in df.columns]
  if missing:
    raise ExportFormatError('Rows lack export columns: %s' % ', '.join(missing))
  frame = pd.DataFrame({ID_KEY: _clean(df[ID_EXPORT_COLUMN])})
  for column, key in EXPORT_TO_FEATURE.items():
    frame[key] = _clean(df[column])
  if include_label is False or LABEL_EXPORT_COLUMN not in df.columns:
    return frame
  labels = df[LABEL_EXPORT_COLUMN].map(parse_label)
  unlabelled = int(labels.isna().sum())
  if include_label is None and unlabelled == len(df) and len(df):
    return frame
  if unlabelled:
    raise ValueError(
        '%d of %d rows have no yes/no "%s"; call split_labelled() first or '
        'pass include_label=False.' %
        (unlabelled, len(df), LABEL_EXPORT_COLUMN))
  frame[LABEL_KEY] = labels.astype('int64').to_numpy()
  return frame


def write_pipeline_csv(frame: pd.DataFrame, path: str) -> bool:
  """Writes `frame` as a one-line-per-row CSV, only if the content changed.

  Args:
    frame: E.g. from `to_pipeline_frame`; values must hold no line breaks.
    path: Destination; its directory is created if needed.

  Returns:
    True if the file was written, False if it already held this content
    (then its modification time is untouched, which keeps ExampleGen's
    cache valid).

  Raises:
    ValueError: A value contains a line break.
  """
  text = frame.to_csv(index=False, lineterminator='\n')
  if '\r' in text or text.count('\n') != len(frame) + 1:
    raise ValueError('Values contain line breaks, which CsvExampleGen cannot '
                     'read; build the frame with to_pipeline_frame().')
  return files.write_bytes_if_changed(path, text.encode('utf-8'))


class PipelineCsvWriter:
  """Streams pipeline frames into one CSV, put in place only when complete.

  Chunks are appended to a staging file in the destination's folder (so the
  final move is an atomic rename); `commit` moves it over the destination
  unless that already holds the same bytes, compared block by block, never
  whole files in memory. Until then, and for good on any error (`discard`,
  or leaving the `with` block), a file already at the destination keeps its
  content and modification time, which keeps ExampleGen's cache valid.
  The bytes are those `write_pipeline_csv` writes for all chunks joined.
  """

  def __init__(self, directory: str):
    self.directory = os.path.abspath(directory)
    self.rows = 0
    self.columns: Optional[List[str]] = None
    self._staging: Optional[str] = None
    self._file = None
    self._created: List[str] = []

  def write(self, frame: pd.DataFrame) -> None:
    """Appends `frame` (e.g. from `to_pipeline_frame`); the first sets the header.

    Raises:
      ValueError: A value contains a line break, or the columns differ from
        the first frame's.
      files.OutputError: The staging file cannot be written.
    """
    first = self._file is None
    text = frame.to_csv(index=False, header=first, lineterminator='\n')
    if '\r' in text or text.count('\n') != len(frame) + first:
      raise ValueError('Values contain line breaks, which CsvExampleGen '
                       'cannot read; build the frame with to_pipeline_frame().')
    if not first and list(frame.columns) != self.columns:
      raise ValueError('columns %s differ from the first chunk\'s %s' %
                       (list(frame.columns), self.columns))
    try:
      if first:
        self._open()
        self.columns = list(frame.columns)
      self._file.write(text.encode('utf-8'))
    except OSError as e:
      raise files.OutputError('cannot write in %s: %s' %
                              (self.directory, e.strerror or e)) from e
    self.rows += len(frame)

  def same_as(self, path: str) -> bool:
    """True if the file at `path` holds exactly the bytes written so far."""
    self._flush()
    return _same_bytes(self._staging, path)

  def commit(self, path: str) -> bool:
    """Puts the staged CSV at `path` unless `path` already holds its bytes.

    Returns:
      True if `path` was (re)written, False if it was left untouched.

    Raises:
      ValueError: Nothing was written (there is no header to write).
      files.OutputError: `path` cannot be written; it keeps its content.
    """
    if self._file is None:
      raise ValueError('no rows were written, so there is no CSV to commit')
    try:
      self._flush()
      if _same_bytes(self._staging, path):
        return False
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      os.replace(self._staging, path)
      self._created = []  # The folders now hold the committed file.
      return True
    except OSError as e:
      raise files.OutputError('cannot write %s: %s' %
                              (path, e.strerror or e)) from e
    finally:
      self.discard()

  def discard(self) -> None:
    """Removes the staging file (and folders it created, if left empty)."""
    if self._file is not None and not self._file.closed:
      self._file.close()
    if self._staging and os.path.exists(self._staging):
      os.remove(self._staging)
    for directory in reversed(self._created):
      try:
        os.rmdir(directory)
      except OSError:  # Not empty: something else lives there now.
        break
    self._created = []

  def __enter__(self) -> 'PipelineCsvWriter':
    return self

  def __exit__(self, *unused_exc) -> None:
    self.discard()

  def _open(self) -> None:
    missing, directory = [], self.directory
    while not os.path.exists(directory):
      missing.append(directory)
      directory = os.path.dirname(directory)
    os.makedirs(self.directory, exist_ok=True)
    self._created = list(reversed(missing))
    self._staging = os.path.join(self.directory,
                                 '.staging-%s.csv' % uuid.uuid4().hex)
    self._file = open(self._staging, 'xb')

  def _flush(self) -> None:
    if self._file is not None and not self._file.closed:
      self._file.flush()
      os.fsync(self._file.fileno())


def _same_bytes(a: str, b: str) -> bool:
  """True if files `a` and `b` hold the same bytes; reads both in blocks."""
  try:
    if os.path.getsize(a) != os.path.getsize(b):
      return False
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
      while True:
        block = fa.read(_COMPARE_BLOCK)
        if block != fb.read(_COMPARE_BLOCK):
          return False
        if not block:
          return True
  except OSError:  # `b` does not exist (or is not a readable file).
    return False


def _clean(values: pd.Series) -> pd.Series:
  """Strings with line breaks as spaces and no surrounding whitespace."""
  text = values.fillna('').astype(str)
  return text.str.replace(_LINE_BREAK, ' ', regex=True).str.strip()


def _column_positions(header: List[str], path: str) -> Dict[str, int]:
  """Maps each export column found in `header` to its position."""
  positions = {}
  for position, name in enumerate(header):
    name = name.strip()
    if name in EXPORT_COLUMNS and name not in positions:
      positions[name] = position
  missing = [c for c in REQUIRED_COLUMNS if c not in positions]
  if missing:
    raise ExportFormatError(
        '%s lacks required column(s) %s. Its header is: %s. Expected the '
        'CFPB export layout: %s.' %
        (path, ', '.join(repr(c) for c in missing),
         ', '.join(repr(c) for c in header[:30]), ', '.join(EXPORT_COLUMNS)))
  return positions


def _check_not_compressed(path: str) -> None:
  """Raises a clear error for the zipped/gzipped downloads."""
  with open(path, 'rb') as f:
    magic = f.read(4)
  if magic.startswith(b'PK\x03\x04') or magic.startswith(b'\x1f\x8b'):
    raise ExportFormatError(
        '%s is a compressed archive; extract complaints.csv from it first '
        '(e.g. `unzip complaints.csv.zip`).' % path)


def convert(export_csv: str, out: str) -> Dict:
  """Writes the labelled rows of `export_csv` as the pipeline CSV `out`.

  The export is streamed (`iter_export`, `PipelineCsvWriter`): memory stays
  bounded whatever its size. `out` is replaced only once the whole export
  has been read and converted, so on any error a file already at `out`
  keeps its content: converting the wrong file must not wipe a good input
  CSV.

  Args:
    export_csv: A CFPB export.
    out: The pipeline CSV to write (only if its content changes).

  Returns:
    A summary: labelled_rows, unlabelled_rows, disputed_rate, out, written.

  Raises:
    files.OutputError: `out` cannot be written, or is the export itself.
    ExportFormatError: `export_csv` is not an export, or has no labelled row.
    OSError: `export_csv` cannot be read.
  """
  if not export_csv:
    raise ExportFormatError('the export file name is empty')
  files.check_output_file(out)
  if _same_file(export_csv, out):
    raise files.OutputError(
        'cannot write %s: it is the export being converted, which would be '
        'overwritten' % out)
  unlabelled = disputed = 0
  with PipelineCsvWriter(os.path.dirname(os.path.abspath(out))) as writer:
    for chunk in iter_export(export_csv):
      labelled, rest = split_labelled(chunk)
      unlabelled += len(rest)
      if len(labelled):
        frame = to_pipeline_frame(labelled, include_label=True)
        disputed += int(frame[LABEL_KEY].sum())
        writer.write(frame)
    _check_has_labelled_rows(export_csv, writer.rows, unlabelled)
    return {
        'labelled_rows': writer.rows, 'unlabelled_rows': unlabelled,
        'disputed_rate': disputed / writer.rows,
        'out': out, 'written': writer.commit(out)}


def _check_has_labelled_rows(path: str, labelled: int,
                             unlabelled: int) -> None:
  """Raises ExportFormatError when there is nothing to train on.

  A header-only export, or one from after April 2017 (no "Consumer
  disputed?" answers), would otherwise become a header-only pipeline CSV
  that fails much later, inside the pipeline.
  """
  if not labelled and not unlabelled:
    raise ExportFormatError('%s has a header but no complaint rows' % path)
  if not labelled:
    raise ExportFormatError(
        '%s has %d complaint rows but none with a Yes/No "%s" (the CFPB '
        'stopped collecting it in April 2017); nothing to train on' %
        (path, unlabelled, LABEL_EXPORT_COLUMN))


def _same_file(a: str, b: str) -> bool:
  """True if paths `a` and `b` name one file (links and `./` included)."""
  try:
    return os.path.samefile(a, b)
  except OSError:  # One of them does not exist.
    return os.path.realpath(a) == os.path.realpath(b)


def _read_error(path: str, error: OSError) -> str:
  """'cannot read <path>: <reason>', without errno noise."""
  return 'cannot read %s: %s' % (path, error.strerror or error)


def main(argv: Optional[List[str]] = None) -> int:
  """Converts a CFPB export to the pipeline's input CSV (labelled rows).

  Bad arguments get one `error:` line on stderr and exit status 2.
  """
  parser = cli.ArgumentParser(
      prog='python -m data.cfpb_export',
      description='Convert a CFPB complaints export to the pipeline input CSV '
      '(labelled rows only; rows without a Yes/No label are counted and '
      'skipped).',
      epilog='example: python -m data.cfpb_export complaints.csv '
      '--out work/input/complaints.csv',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('export_csv', help='complaints.csv from the CFPB site')
  parser.add_argument('--out', required=True, help='pipeline CSV to write')
  parser.add_argument('--json', action='store_true', help='print JSON summary')
  args = parser.parse_args(argv)
  try:
    summary = convert(args.export_csv, args.out)
  except (files.OutputError, ExportFormatError) as e:
    return cli.fail(e)
  except OSError as e:
    return cli.fail(_read_error(args.export_csv, e))
  if args.json:
    print(json.dumps(summary))
  else:
    print('%(labelled_rows)d labelled rows (disputed rate %(disputed_rate).3f'
          '), %(unlabelled_rows)d unlabelled rows skipped; %(out)s %(state)s.'
          % dict(summary, state='written' if summary['written']
                 else 'unchanged'))
  return 0


if __name__ == '__main__':
  sys.exit(main())
