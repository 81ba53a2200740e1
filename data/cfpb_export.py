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

To bring another CSV, map its columns to `EXPORT_COLUMNS` (at least the
pipeline's columns, see `REQUIRED_COLUMNS`) and use the same functions.
"""

import argparse
import csv
import json
import sys
from typing import Dict, List, Optional, Tuple

import pandas as pd

from components.features import EXPORT_TO_FEATURE
from components.features import ID_EXPORT_COLUMN
from components.features import ID_KEY
from components.features import LABEL_EXPORT_COLUMN
from components.features import LABEL_KEY
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
  breaks.

  Args:
    path: The CSV file (UTF-8, with or without a byte-order mark).

  Returns:
    A DataFrame with exactly `EXPORT_COLUMNS`, in that order.

  Raises:
    ExportFormatError: The file is empty, compressed, not UTF-8 text, lacks
      required columns, or has rows whose field count differs from the header.
  """
  _check_not_compressed(path)
  old_limit = csv.field_size_limit(_FIELD_SIZE_LIMIT)
  try:
    with open(path, newline='', encoding='utf-8-sig') as f:
      reader = csv.reader(f)
      header = next(reader, None)
      if not header or not any(name.strip() for name in header):
        raise ExportFormatError(
            '%s is empty; expected a CSV whose first line is the CFPB export '
            'header (%s).' % (path, ', '.join(EXPORT_COLUMNS)))
      positions = _column_positions(header, path)
      records = [record for record in reader if record]  # Skip blank lines.
  except UnicodeDecodeError as e:
    raise ExportFormatError(
        '%s is not UTF-8 text (%s). Save the export as UTF-8 CSV.' %
        (path, e)) from e
  except csv.Error as e:
    raise ExportFormatError('%s is not a readable CSV: %s' % (path, e)) from e
  finally:
    csv.field_size_limit(old_limit)
  for number, record in enumerate(records, start=1):
    if len(record) != len(header):
      raise ExportFormatError(
          '%s: data row %d has %d fields but the header has %d (truncated '
          'download, or unquoted commas/line breaks?).' %
          (path, number, len(record), len(header)))
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


def main(argv: Optional[List[str]] = None) -> int:
  """Converts a CFPB export to the pipeline's input CSV (labelled rows)."""
  parser = argparse.ArgumentParser(
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
    labelled, unlabelled = split_labelled(read_export(args.export_csv))
  except (OSError, ExportFormatError) as e:
    print('error: %s' % e, file=sys.stderr)
    return 2
  frame = to_pipeline_frame(labelled, include_label=True)
  written = write_pipeline_csv(frame, args.out)
  summary = {
      'labelled_rows': len(labelled), 'unlabelled_rows': len(unlabelled),
      'disputed_rate': float(frame[LABEL_KEY].mean()) if len(frame) else None,
      'out': args.out, 'written': written}
  if args.json:
    print(json.dumps(summary))
  else:
    rate = summary['disputed_rate']
    print('%(labelled_rows)d labelled rows (disputed rate %(rate)s), '
          '%(unlabelled_rows)d unlabelled rows skipped; %(out)s %(state)s.' %
          dict(summary, rate='-' if rate is None else '%.3f' % rate,
               state='written' if written else 'unchanged'))
  return 0


if __name__ == '__main__':
  sys.exit(main())
