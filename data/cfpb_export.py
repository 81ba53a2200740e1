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
import os
import sys
from typing import Dict, List, Optional, Tuple

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
    OSError: The file cannot be opened (missing, a directory, unreadable).
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


def convert(export_csv: str, out: str) -> Dict:
  """Writes the labelled rows of `export_csv` as the pipeline CSV `out`.

  Everything is checked before `out` is touched, so on any error a file
  already at `out` keeps its content: converting the wrong file must not
  wipe a good input CSV.

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
  labelled, unlabelled = split_labelled(read_export(export_csv))
  _check_has_labelled_rows(export_csv, len(labelled), len(unlabelled))
  frame = to_pipeline_frame(labelled, include_label=True)
  return {
      'labelled_rows': len(labelled), 'unlabelled_rows': len(unlabelled),
      'disputed_rate': float(frame[LABEL_KEY].mean()),
      'out': out, 'written': write_pipeline_csv(frame, out)}


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
