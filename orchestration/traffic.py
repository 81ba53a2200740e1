"""Traffic where there is none yet: a CSV sent through the served model.

In production the model server runs on its own and its request logs are
what the loop reads (`logs` of the DAG). A demo or a test has no such
server, so this step plays it: the pushed models under `<output>/serving`
served by the real model server with request logging on (a child process,
`serving.child_server.serve_and_score`), the bulk client sending the CSV
(the CFPB export layout, or with `--dataset` any spec's rows, each with its
join key) over gRPC, the server stopped (its logs flushed). With
`--labels-to DROP` the CSV's own outcomes are dropped into the labels
folder afterwards, as the system that learns them later would.

    python -m orchestration.traffic --output OUT --csv CSV --work DIR [--dataset SPEC] [--labels-to DROP]

Prints the client's JSON summary (`request_logs`: the folder to monitor);
exit 0, 2 with a one-line error on bad input, 1 when the server or
the client failed (a retry may succeed).
"""

import argparse
import csv
import json
import os
import sys
from typing import List, Optional

from pipeline import paths as project_paths


def label_columns(spec) -> List[str]:
  """The columns a labels file of the spec keeps: its ID and label, or,
  without an ID, every column it reads (feedback derives the row key)."""
  if spec.id_column:
    return [spec.id_column, spec.label.column]
  return list(spec.columns)


def drop_labels(rows_csv: str, drop: str, spec) -> str:
  """The CSV's join columns and label, as one file in the drop folder."""
  out = os.path.join(drop, os.path.splitext(os.path.basename(
      rows_csv))[0] + '-labels.csv')
  columns = label_columns(spec)
  os.makedirs(drop, exist_ok=True)
  staging = f'{out}.partial'   # not *.csv: the drop folder never sees half
  with open(rows_csv, newline='', encoding='utf-8-sig') as f, open(
      staging, 'w', newline='', encoding='utf-8') as g:
    reader = csv.DictReader(f)
    writer = csv.writer(g)
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in reader)
  os.replace(staging, out)
  return out


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m orchestration.traffic',
      description=__doc__.splitlines()[0])
  parser.add_argument('--output', required=True,
                      help="the pipeline's --output (its serving/ is served)")
  parser.add_argument('--csv', '--complaints', dest='csv', required=True,
                      metavar='CSV', help="rows of the dataset spec's CSV "
                      '(CFPB: the export layout) to send')
  parser.add_argument('--dataset', default='cfpb', metavar='NAME_OR_SPEC',
                      help='the dataset spec (default: %(default)s)')
  parser.add_argument('--work', required=True,
                      help='folder for the model config, the request logs, '
                      'the scores and the server log')
  parser.add_argument('--model-name',
                      help="default: the dataset spec's model")
  parser.add_argument('--labels-to', metavar='DROP',
                      help="drop the CSV's outcomes into this labels folder")
  args = parser.parse_args(argv)
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  try:
    spec = dataset_spec.load(args.dataset)
  except dataset_spec.SpecError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  args.model_name = args.model_name or spec.model_name
  if not os.path.isfile(args.csv):
    print(f'error: no such traffic file: {args.csv}', file=sys.stderr)
    return 2
  serving_dir = project_paths.run_paths(args.output).serving_dir
  if not os.path.isdir(os.path.join(serving_dir, args.model_name)):
    print(f'error: no pushed model {args.model_name!r} under {serving_dir}: '
          'run the pipeline first', file=sys.stderr)
    return 2
  from serving import child_server  # pylint: disable=g-import-not-at-top
  try:
    summary = child_server.serve_and_score(
        serving_dir, args.csv, args.work, args.model_name,
        None if dataset_spec.is_default(spec) else args.dataset)
  except (child_server.ServerStartError, RuntimeError) as error:
    print(f'error: {str(error).splitlines()[0]}', file=sys.stderr)
    return 1  # the server or the client failed: worth a retry
  if args.labels_to:
    summary['labels'] = drop_labels(args.csv, args.labels_to, spec)
  print(json.dumps(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main())
