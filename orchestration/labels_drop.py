"""A drop folder of outcome files as the one labels CSV `pipeline feedback` reads.

Outcomes arrive as files (`*.csv` with the export's `Complaint ID` and
`Consumer disputed?` columns, other columns ignored) dropped into a folder
by whatever system learns them. The loop joins all of them with the
window's logged requests at once: `pipeline feedback` counts a label given
twice once and leaves out IDs labelled both ways, so an overlap between
files is reported, never double-counted. The folder is only read; the
merged file is written under a temporary name and renamed.

    python -m orchestration.labels_drop DROP_DIR --out DIR/labels.csv

Exit 0 printing the merged file, 2 with a one-line error (no file, a file
without the two columns, unreadable); nothing is written then.
"""

import argparse
import csv
import glob
import os
import sys
from typing import List, Optional

from components import features

COLUMNS = (features.ID_EXPORT_COLUMN, features.LABEL_EXPORT_COLUMN)


class LabelsDropError(ValueError):
  """A drop folder that cannot become one labels file: one line, exit 2."""


def label_files(drop: str) -> List[str]:
  """The drop's CSV files, oldest name first (a single file: itself)."""
  if os.path.isfile(drop):
    return [drop]
  if not os.path.isdir(drop):
    raise LabelsDropError(f'no such labels file or folder: {drop}')
  found = sorted(glob.glob(os.path.join(drop, '*.csv')))
  if not found:
    raise LabelsDropError(f'no labels file (*.csv) in {drop}')
  return found


def merge(drop: str, out: str) -> int:
  """Writes every drop file's two columns to out; returns the rows written."""
  rows = []
  for path in label_files(drop):
    try:
      with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
          raise LabelsDropError(
              f'{path} is not a labels file: it lacks '
              + ', '.join(f'"{c}"' for c in missing))
        rows.extend((r[COLUMNS[0]], r[COLUMNS[1]]) for r in reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
      raise LabelsDropError(f'cannot read {path}: '
                            f'{getattr(error, "strerror", None) or error}'
                            ) from None
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  staging = f'{out}.partial'
  with open(staging, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
  os.replace(staging, out)
  return len(rows)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m orchestration.labels_drop',
      description=__doc__.splitlines()[0])
  parser.add_argument('drop', help='a folder of labels CSVs, or one file')
  parser.add_argument('--out', required=True, help='the merged labels CSV')
  args = parser.parse_args(argv)
  try:
    merge(args.drop, args.out)
  except LabelsDropError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
