"""The `--data` that makes `pipeline run` train on the input's latest span.

`pipeline run` writes its `--data` as a new span unless the content equals
the latest span's (then the span is reused and, with unchanged code and
settings, every component is cached). After `pipeline feedback` wrote a new
span, retraining on it therefore means passing that span back in the export
layout: this writes it so (the inverse of `data.cfpb_export.to_pipeline_frame`,
which maps it back byte for byte) and prints the file to pass. An output
with no span yet prints the seed files given (none: the generated set).

    python -m orchestration.span_data --output OUT --out DIR/latest.csv [--seed CSV ...]

Exit 0 with one path per line (possibly none), 2 with a one-line error.
"""

import argparse
import os
import sys
from typing import List, Optional, Sequence

from components import features
from pipeline import input_data
from pipeline import paths as project_paths

LABEL_VALUES = {'1': 'Yes', '0': 'No'}


class SpanDataError(ValueError):
  """A span that cannot be written back as an export: one line, exit 2."""


def write_latest_span_as_export(input_root: str, out: str) -> Optional[str]:
  """The latest span of input_root as an export CSV at out (None: no span)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  span = input_data.latest_span(input_root)
  if span is None:
    return None
  path = os.path.join(input_root, f'span-{span}', input_data.INPUT_FILE)
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (OSError, ValueError) as error:
    raise SpanDataError(f'cannot read span {span} at {path}: {error}') from None
  needed = [features.ID_KEY, features.LABEL_KEY, *features.FEATURE_TO_EXPORT]
  missing = [key for key in needed if key not in frame.columns]
  if missing:
    raise SpanDataError(f'span {span} at {path} lacks the pipeline columns '
                        + ', '.join(missing))
  bad = sorted(set(frame[features.LABEL_KEY]) - set(LABEL_VALUES))
  if bad:
    raise SpanDataError(f'span {span} at {path}: {features.LABEL_KEY} must be '
                        f'0 or 1, found {", ".join(map(repr, bad[:5]))}')
  export = pd.DataFrame({features.ID_EXPORT_COLUMN: frame[features.ID_KEY]})
  for key, column in features.FEATURE_TO_EXPORT.items():
    export[column] = frame[key]
  export[features.LABEL_EXPORT_COLUMN] = frame[features.LABEL_KEY].map(
      LABEL_VALUES)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  staging = f'{out}.partial'
  export.to_csv(staging, index=False)
  os.replace(staging, out)  # never a half-written file under out's name
  return out


def data_files(output: str, out: str, seed: Sequence[str]) -> List[str]:
  """The latest span as an export, or the seed files when there is none."""
  run_paths = project_paths.run_paths(output)
  written = write_latest_span_as_export(run_paths.input_root, out)
  return [written] if written else list(seed)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m orchestration.span_data',
      description=__doc__.splitlines()[0])
  parser.add_argument('--output', required=True,
                      help="the pipeline's --output")
  parser.add_argument('--out', required=True,
                      help='where to write the latest span as an export CSV')
  parser.add_argument('--seed', action='append', default=[], metavar='CSV',
                      help='the data of the first run, when the output has '
                      'no span yet; repeat (default: the generated set)')
  args = parser.parse_args(argv)
  try:
    for path in data_files(args.output, args.out, args.seed):
      print(path)
  except (SpanDataError, OSError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
