"""A drop folder of outcome files as the one labels CSV `pipeline feedback` reads.

Outcomes arrive as files dropped into a folder by whatever system learns
them: `*.csv` with the dataset spec's ID and label columns (CFPB: the
export's `Complaint ID` and `Consumer disputed?`), other columns ignored;
for a spec without an ID, the labelled rows themselves (every column the
spec reads), from which feedback derives the row key. The loop joins all of them with the
window's logged requests at once: `pipeline feedback` counts a label given
twice once and leaves out IDs labelled both ways, so an overlap between
files is reported, never double-counted. The folder is only read; the
merged file is written under a temporary name and renamed.

    python -m orchestration.labels_drop DROP_DIR --out DIR/labels.csv [--dataset SPEC]

Exit 0 printing the merged file, 2 with a one-line error (no file, a file
without the two columns, unreadable); nothing is written then.
"""

import argparse
import csv
import glob
import os
import sys
from typing import List, Optional

from orchestration import traffic


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


def merge(drop: str, out: str, spec=None) -> int:
  """Writes every drop file's label columns (traffic.label_columns: the
  spec's ID and label) to out; returns the rows written."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  columns = traffic.label_columns(spec or dataset_spec.load())
  rows = []
  for path in label_files(drop):
    try:
      with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
          raise LabelsDropError(
              f'{path} is not a labels file: it lacks '
              + ', '.join(f'"{c}"' for c in missing))
        rows.extend([r[c] for c in columns] for r in reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
      raise LabelsDropError(f'cannot read {path}: '
                            f'{getattr(error, "strerror", None) or error}'
                            ) from None
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  staging = f'{out}.partial'
  with open(staging, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows(rows)
  os.replace(staging, out)
  return len(rows)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m orchestration.labels_drop',
      description=__doc__.splitlines()[0])
  parser.add_argument('drop', help='a folder of labels CSVs, or one file')
  parser.add_argument('--out', required=True, help='the merged labels CSV')
  parser.add_argument('--dataset', default='cfpb', metavar='NAME_OR_SPEC',
                      help='the dataset spec (default: %(default)s)')
  args = parser.parse_args(argv)
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  try:
    merge(args.drop, args.out, dataset_spec.load(args.dataset))
  except (LabelsDropError, dataset_spec.SpecError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
