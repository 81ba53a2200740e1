"""`python -m serving.client`: score complaints with a TF Serving server.

One complaint (`--complaint`, CFPB export fields as JSON) goes over REST to
`predict_raw` or over gRPC to `serving_default`; a whole export CSV
(`--complaints FILE.csv --out scores.csv`) goes in batches, each row with
its Complaint ID inside its tf.Example, optionally logged by the client
(`--request_log_prefix`) or split between two version labels
(`--canary-share`). Both work against this project's server and the real
TF Serving alike; `--explain` (one complaint or row, REST) asks this
server's `:explain` for each feature's attribution too. This module is the
command line only: its flags, its one-line errors and exit codes (0 all
scored, 1 some rows or the call failed, 2 bad input) and its output, whose
last stdout line is JSON.

The work is done by modules with one job each, none importing this one:

  client_types.py        ClientError, UsageError, Prediction
  client_inputs.py       a complaint -> raw feature rows, tf.Examples
  client_rest.py         RestClient (REST API, standard library only)
  client_grpc.py         GrpcClient (PredictionService stubs)
  client_protocols.py    make_client: a protocol client by name
  client_progress.py     the bulk scorer's progress bar (tqdm)
  client_request_log.py  PredictionLogs written by the client
  client_bulk.py         read_complaints, score_complaints
  client_ab.py           the A/B split by Complaint ID
  client_rows.py         any data set's CSV in bulk, with its join key
  client_explain.py      --explain: :explain's answer, read by a person

`to_features` and `make_client` stay importable from here, as
`notebooks/serving.ipynb` uses them.

CLI: python -m serving.client --help
"""

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, Dict, List, Optional

from serving.client_ab import score_ab
from serving.client_bulk import read_complaints, score_complaints
from serving.client_explain import TOP, explain_complaint
from serving.client_explain import render as render_explanation
from serving.client_inputs import OUTPUT_KEY, to_features
from serving.client_progress import Progress
from serving.client_protocols import PROTOCOLS, make_client
from serving.client_request_log import ClientRequestLog
from serving.client_types import ClientError, UsageError

__all__ = ['main', 'make_client', 'to_features']

_EXAMPLES = """examples:
  python -m serving.client --protocol rest --port 8501 \\
      --complaint '{"Product": "Mortgage", "State": "CA", "ZIP code": "940XX",
                    "Consumer complaint narrative": "They charged me twice."}'
  python -m serving.client --protocol grpc --port 8500 --label canary \\
      --complaint @complaint.json

  # Every row of an export CSV, 64 per request; Complaint IDs travel along:
  python -m serving.client --protocol grpc --port 8500 \
      --complaints complaints.csv --out scores.csv --batch-size 64

  # Any data set: one row keyed by its CSV's columns, typed per column:
  python -m serving.client --dataset taxi --port 8501 --row '{"trip_miles":
      1.2, "fare": 6.5, "payment_type": "Credit Card", "trip_start_hour": 19}'
  python -m serving.client --dataset penguins --protocol grpc --port 8500 \
      --row '{"island": "Biscoe", "bill_length_mm": 48.2, "sex": "female"}'

  # Each feature's attribution to the logit too (this server's :explain):
  python -m serving.client --port 8501 --explain \
      --complaint '{"Product": "Mortgage", "State": "CA"}'

The last line printed is JSON, e.g.
  {"disputed_probability": 0.23, "model_version": 1700000000, ...}
  {"sent": 5000, "failed": 0, "model_version": 1700000000, ...} (--complaints)
"""


def _load_complaint(text: str, option: str = '--complaint') -> Dict[str, Any]:
  if text.startswith('@'):
    path = text[1:]
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      raise UsageError(
          f'{option}: cannot read {path}: {e.strerror}') from None
    try:
      text = data.decode('utf-8')
    except UnicodeDecodeError as e:
      raise UsageError(
          f'{option} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} '
          f'at offset {e.start})') from None
  try:
    complaint = json.loads(text)
  except ValueError as e:
    raise UsageError(f'{option} is not valid JSON: {e}') from None
  if not isinstance(complaint, dict):
    raise UsageError(f'{option} must be a JSON object of '
                     + ('export fields' if option == '--complaint'
                        else 'column values'))
  return complaint


class _Parser(argparse.ArgumentParser):
  """Bad arguments are one `error:` line and exit 2 (no usage dump)."""

  def error(self, message):
    self.exit(2, f'error: {message} (see --help)\n')


def _positive(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    raise argparse.ArgumentTypeError(f'expected a positive integer, got '
                                     f'{text!r}')
  return value


def main(argv: Optional[List[str]] = None) -> int:
  parser = _Parser(
      prog='python -m serving.client',
      description='Score CFPB complaints with a TF Serving-compatible '
                  'server: one (--complaint) or a whole export CSV '
                  '(--complaints).', epilog=_EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--protocol', choices=PROTOCOLS, default='rest')
  parser.add_argument('--host', default='localhost')
  parser.add_argument('--port', type=int,
                      help='default: 8501 for rest, 8500 for grpc')
  parser.add_argument('--model_name', '--model-name', default=None,
                      help="default: the dataset spec's model (complaints)")
  parser.add_argument('--dataset', default='cfpb', metavar='NAME_OR_SPEC',
                      help='with --row: the dataset spec (cfpb, taxi, '
                      'penguins, or a spec file; default: %(default)s)')
  target = parser.add_mutually_exclusive_group()
  target.add_argument('--version', type=int, help='a specific model version')
  target.add_argument('--label', help='a version label, e.g. stable, canary')
  what = parser.add_mutually_exclusive_group(required=True)
  what.add_argument('--complaint',
                    help='JSON object of export columns, or @file.json')
  what.add_argument('--row', metavar='JSON',
                    help="one row of the dataset spec's CSV: a JSON object "
                    "keyed by its column names, or @file.json")
  what.add_argument('--complaints', metavar='FILE.csv',
                    help='score every row of a CFPB export CSV (needs --out)')
  what.add_argument('--rows', metavar='FILE.csv',
                    help="score every row of the dataset spec's CSV over "
                    'gRPC, each with its join key (needs --out; the options '
                    'of --complaints apply)')
  parser.add_argument('--out', metavar='FILE.csv',
                      help='with --complaints: Complaint ID,'
                      f'{OUTPUT_KEY},model_version rows')
  parser.add_argument('--batch-size', '--batch_size', dest='batch_size',
                      type=_positive, default=64,
                      help='with --complaints: rows per request (default: 64)')
  parser.add_argument('--request_log_prefix', '--request-log-prefix',
                      metavar='PREFIX',
                      help='with --complaints: also write each request and '
                      'response as a PredictionLog TFRecord (files beginning '
                      'with PREFIX), as a server with logging_config does; '
                      'for the real TF Serving, which cannot')
  parser.add_argument('--canary-share', '--canary_share', type=float,
                      metavar='SHARE',
                      help='with --complaints: an A/B test: send this share '
                      'of the complaints (0-1, by a hash of the Complaint '
                      'ID, so a complaint always meets the same version) to '
                      'the label canary and the rest to stable')
  parser.add_argument('--timeout', type=float, default=10.0,
                      help='seconds per request (default: 10)')
  parser.add_argument('--explain', action='store_true',
                      help='with --complaint or --row, over REST: each '
                      "feature's attribution to the logit too (this "
                      "server's :explain, beyond TF Serving's API); prints "
                      f'the {TOP} largest, the JSON line has all')
  args = parser.parse_args(argv)
  port = args.port or (8501 if args.protocol == 'rest' else 8500)
  if args.explain and (args.complaint is None and args.row is None):
    return _usage_error('--explain explains one --complaint or --row')
  if args.explain and args.protocol != 'rest':
    return _usage_error(':explain is a REST call (this server extends TF '
                        "Serving's REST API; gRPC has no explain): drop "
                        '--protocol grpc')
  if args.complaints is None and args.rows is None and (
      args.out or args.request_log_prefix or args.canary_share is not None):
    return _usage_error('--out, --request_log_prefix and --canary-share '
                        'need --complaints or --rows')
  if args.row is not None:
    return _main_row(args, port)
  if args.rows is not None:
    return _main_rows(args, port)
  args.model_name = args.model_name or 'complaints'
  if args.complaints is not None:
    return _main_bulk(args, port)
  try:
    complaint = _load_complaint(args.complaint)
  except UsageError as e:
    return _usage_error(str(e))
  explanation = None
  try:
    client = _client_from_args(args, port)
    try:
      if args.explain:
        prediction, explanation = explain_complaint(client, complaint)
      else:
        prediction = client.predict(complaint)
    finally:
      client.close()
  except (ClientError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'{prediction.model_name} v{prediction.model_version} over '
        f'{prediction.protocol}: P(disputed) = '
        f'{prediction.disputed_probability:.4f} '
        f'({prediction.latency_ms:.1f} ms)')
  output = dataclasses.asdict(prediction)
  if explanation is not None:
    print('\n'.join(render_explanation(explanation)))
    output['explanation'] = explanation
  print(json.dumps(output))
  return 0


def _main_row(args, port: int) -> int:
  """--row: exit 0 with the prediction, 1 if the call failed, 2 for bad
  input; the last stdout line is JSON."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  from serving import client_row  # pylint: disable=g-import-not-at-top
  try:
    spec = dataset_spec.load(args.dataset)
  except dataset_spec.SpecError as e:
    return _usage_error(str(e))
  try:
    inputs = client_row.row_inputs(spec, _load_complaint(args.row, '--row'))
  except UsageError as e:
    return _usage_error(str(e))
  args.model_name = args.model_name or spec.model_name
  try:
    client = _client_from_args(args, port)
    try:
      if args.protocol == 'rest':
        result = client_row.predict_rest(client, spec, inputs, args.explain)
      else:
        result = client_row.predict_grpc(client, spec, inputs)
    finally:
      client.close()
  except (ClientError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(client_row.render(spec, result))
  if 'explanation' in result:
    print('\n'.join(render_explanation(result['explanation'])))
  print(json.dumps(result))
  return 0


def _main_rows(args, port: int) -> int:
  """--rows: exit 0 if every row was scored, 1 if some failed, 2 for bad
  input; the last stdout line is the JSON summary."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  from serving import client_rows  # pylint: disable=g-import-not-at-top
  if args.protocol != 'grpc':
    return _usage_error('--rows sends tf.Examples over gRPC: add --protocol '
                        'grpc (--row scores one row over REST)')
  if not args.out:
    return _usage_error('--rows needs --out FILE.csv')
  if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
    return _usage_error(f'--out: the directory of {args.out} does not exist')
  ok, why = client_rows.check_ab(args.canary_share, args.version, args.label)
  if not ok:
    return _usage_error(why)
  try:
    spec = dataset_spec.load(args.dataset)
    rows = client_rows.read_rows(args.rows, spec)
  except dataset_spec.SpecError as e:
    return _usage_error(str(e))
  except UsageError as e:
    return _usage_error(str(e))
  args.model_name = args.model_name or spec.model_name

  def client_for(label):
    return make_client('grpc', host=args.host, port=port,
                       model_name=args.model_name,
                       version=None if label else args.version,
                       label=label or args.label, timeout=args.timeout)

  def score(request_log):
    summary = client_rows.score_rows(
        client_for, spec, rows, args.out, args.batch_size,
        args.canary_share, request_log, Progress(len(rows)))
    summary['model_name'] = args.model_name
    return summary
  return _bulk(args, score, (ClientError, OSError))


def _client_from_args(args, port: int):
  """The client the command line asks for (one complaint or a CSV)."""
  return make_client(args.protocol, host=args.host, port=port,
                     model_name=args.model_name, version=args.version,
                     label=args.label, timeout=args.timeout)


def _usage_error(message: str) -> int:
  print(f'error: {message}', file=sys.stderr)
  return 2


def _main_bulk(args, port: int) -> int:
  """--complaints: exit 0 if every row was scored, 1 if some failed, 2 for
  bad input; the last stdout line is the JSON summary."""
  if not args.out:
    return _usage_error('--complaints needs --out FILE.csv')
  out_dir = os.path.dirname(os.path.abspath(args.out))
  if not os.path.isdir(out_dir):
    return _usage_error(f'--out: directory {out_dir} does not exist')
  if os.path.isdir(args.out):
    return _usage_error(f'--out: {args.out} is a directory')
  try:
    ids, rows = read_complaints(args.complaints)
  except UsageError as e:
    return _usage_error(str(e))
  if args.canary_share is not None:
    if not 0.0 <= args.canary_share <= 1.0:
      return _usage_error('--canary-share must be between 0 and 1, not '
                          f'{args.canary_share}')
    if args.version is not None or args.label:
      return _usage_error('--canary-share sends to the labels stable and '
                          'canary: give no --version or --label')
  def score(request_log):
    if args.canary_share is not None:
      return score_ab(args.protocol, ids, rows, args.out, args.canary_share,
                      args.batch_size, Progress(len(rows)), request_log,
                      host=args.host, port=port, model_name=args.model_name,
                      timeout=args.timeout)
    client = _client_from_args(args, port)
    try:
      return score_complaints(client, ids, rows, args.out, args.batch_size,
                              Progress(len(rows)), request_log)
    finally:
      client.close()
  return _bulk(args, score, (ClientError,))


def _bulk(args, score, errors) -> int:
  """Runs score(request_log) with the request log --request_log_prefix
  asks for; prints the JSON summary (and the first failure); the exit code
  of a bulk scoring."""
  request_log = (ClientRequestLog(args.request_log_prefix)
                 if args.request_log_prefix else None)
  try:
    summary = score(request_log)
  except errors as e:
    return _usage_error(str(e))
  finally:
    if request_log is not None:
      files = request_log.close()
  if request_log is not None:
    summary['request_log_files'] = files
  if summary['failed']:
    print(f'error: {summary["failed"]} of {summary["rows"]} rows failed '
          f'({summary["failed_batches"]} batches); first: '
          f'{summary["errors"][0]}', file=sys.stderr)
  print(json.dumps(summary))
  return 1 if summary['failed'] else 0


if __name__ == '__main__':
  sys.exit(main())
