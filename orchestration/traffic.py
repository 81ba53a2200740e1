"""Traffic where there is none yet: a CSV sent through the served model.

In production the model server runs on its own and its request logs are
what the loop reads (`logs` of the DAG). A demo or a test has no such
server, so this step plays it: the pushed models under `<output>/serving`
served by the real model server with request logging on (a child process,
`serving.child_server.serve_and_score`), the bulk client sending the CSV
(the CFPB export layout) over gRPC, the server stopped (its logs flushed).
With `--labels-to DROP` the CSV's own outcomes are dropped into the labels
folder afterwards, as the system that learns them later would.

    python -m orchestration.traffic --output OUT --complaints CSV --work DIR [--labels-to DROP]

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

from components import features
from pipeline import paths as project_paths


def drop_labels(complaints_csv: str, drop: str) -> str:
  """The CSV's Complaint ID and label, as one file in the drop folder."""
  out = os.path.join(drop, os.path.splitext(os.path.basename(
      complaints_csv))[0] + '-labels.csv')
  columns = (features.ID_EXPORT_COLUMN, features.LABEL_EXPORT_COLUMN)
  os.makedirs(drop, exist_ok=True)
  staging = f'{out}.partial'   # not *.csv: the drop folder never sees half
  with open(complaints_csv, newline='', encoding='utf-8-sig') as f, open(
      staging, 'w', newline='', encoding='utf-8') as g:
    reader = csv.DictReader(f)
    writer = csv.writer(g)
    writer.writerow(columns)
    writer.writerows((row[columns[0]], row[columns[1]]) for row in reader)
  os.replace(staging, out)
  return out


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m orchestration.traffic',
      description=__doc__.splitlines()[0])
  parser.add_argument('--output', required=True,
                      help="the pipeline's --output (its serving/ is served)")
  parser.add_argument('--complaints', required=True, metavar='CSV',
                      help='complaints in the CFPB export layout to send')
  parser.add_argument('--work', required=True,
                      help='folder for the model config, the request logs, '
                      'the scores and the server log')
  parser.add_argument('--model-name', default='complaints')
  parser.add_argument('--labels-to', metavar='DROP',
                      help="drop the CSV's outcomes into this labels folder")
  args = parser.parse_args(argv)
  if not os.path.isfile(args.complaints):
    print(f'error: no such complaints file: {args.complaints}',
          file=sys.stderr)
    return 2
  serving_dir = project_paths.run_paths(args.output).serving_dir
  if not os.path.isdir(os.path.join(serving_dir, args.model_name)):
    print(f'error: no pushed model {args.model_name!r} under {serving_dir}: '
          'run the pipeline first', file=sys.stderr)
    return 2
  from serving import child_server  # pylint: disable=g-import-not-at-top
  try:
    summary = child_server.serve_and_score(serving_dir, args.complaints,
                                           args.work, args.model_name)
  except (child_server.ServerStartError, RuntimeError) as error:
    print(f'error: {str(error).splitlines()[0]}', file=sys.stderr)
    return 1  # the server or the client failed: worth a retry
  if args.labels_to:
    summary['labels'] = drop_labels(args.complaints, args.labels_to)
  print(json.dumps(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main())
