"""What request logging (logging_config, sampling_rate 1) costs a request.

One server serves the contract-shaped stand-in model twice from the same
version directory: `plain` without a logging_config and `logged` with one
(every request logged). Requests alternate between the two, so both see
the same machine load; the overhead is the difference of the medians.
Each batch size runs on a fresh server; the report holds one entry per
batch size (`batch_1`, `batch_64`), next to `command` and `machine`.

  python -m benchmarks.bench_request_logging [--batch 1,64]
      [--requests 2000,500] [--machine TEXT] [--out FILE]
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

import components  # noqa: F401  (the stack's environment, before TF)
from benchmarks import result_file


def _percentile(values, q):
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ints(text: str):
  return [int(part) for part in text.split(',')]


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=_ints, default=[1, 64],
                      help='complaints per request, one run per value')
  parser.add_argument('--requests', type=_ints, default=[2000, 500],
                      help='per model and protocol, one per --batch value '
                           '(or one for all)')
  parser.add_argument('--machine', help='recorded as given (default: the '
                      'core count and how the benchmark runs)')
  parser.add_argument('--out')
  args = parser.parse_args(argv)
  if len(args.requests) == 1:
    args.requests = args.requests * len(args.batch)
  if len(args.requests) != len(args.batch):
    parser.error('--requests needs one value, or one per --batch value')
  report = {
      'command': ' '.join(['python -m benchmarks.bench_request_logging'] +
                         [shlex.quote(a) for a in argv]),
      'machine': args.machine or (
          f'{os.cpu_count()} cores, server and load generator in one '
          'process, concurrency 1')}
  for batch, requests in zip(args.batch, args.requests):
    report[f'batch_{batch}'] = _run(batch, requests)
  text = json.dumps(report, indent=1)
  print(text)
  if args.out:
    result_file.write(args.out, report, indent=1)
  return 0


def _run(batch: int, requests: int) -> dict:
  """Serves `plain` and `logged`; p50/p99 per protocol and the log's size."""
  from serving import client_inputs  # pylint: disable=g-import-not-at-top
  from serving import client_protocols  # pylint: disable=g-import-not-at-top
  from serving import example_models  # pylint: disable=g-import-not-at-top
  from serving import model_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top

  root = tempfile.mkdtemp(prefix='bench_logging_')
  base = os.path.join(root, 'complaints')
  example_models.write_complaint_model(base, 1)
  config = os.path.join(root, 'models.config')
  prefix = os.path.join(root, 'logs', 'logged')
  server_config.write_model_server_config(config, [
      {'name': 'plain', 'base_path': base},
      {'name': 'logged', 'base_path': base,
       'logging': {'filename_prefix': prefix, 'sampling_rate': 1.0}}])
  options = server_config.ServerOptions(
      port=_free_port(), rest_api_port=_free_port(),
      bind_address='127.0.0.1', model_config_file=config,
      file_system_poll_wait_seconds=0)
  server = model_server.ModelServer(options).start()
  rows = [client_inputs.to_features(c)
          for c in example_models.sample_complaints(batch)]
  serialized = client_inputs.serialized_examples(
      rows, [str(i) for i in range(len(rows))])
  results = {}
  try:
    for protocol in ('grpc', 'rest'):
      clients = {name: client_protocols.make_client(
          protocol, host='127.0.0.1',
          port=server.grpc_port if protocol == 'grpc' else server.rest_port,
          model_name=name) for name in ('plain', 'logged')}
      calls = {}
      for name, c in clients.items():
        if protocol == 'grpc':
          request = c.examples_request(serialized)
          calls[name] = lambda c=c, r=request: c.predict_request(r)
        else:
          calls[name] = lambda c=c: c.predict_examples(serialized)
      for fn in calls.values():  # Warm both paths.
        for _ in range(50):
          fn()
      latency = {name: [] for name in calls}
      for _ in range(requests):
        for name, fn in calls.items():
          start = time.perf_counter()
          fn()
          latency[name].append((time.perf_counter() - start) * 1e3)
      for c in clients.values():
        c.close()
      summary = {name: {'p50_ms': round(statistics.median(v), 3),
                        'p99_ms': round(_percentile(v, 0.99), 3)}
                 for name, v in latency.items()}
      summary['overhead_p50_ms'] = round(
          summary['logged']['p50_ms'] - summary['plain']['p50_ms'], 3)
      results[protocol] = summary
    assert server.core.request_logger.flush(timeout=60)
    written = server.metrics.request_log_written.value('logged')
    dropped = sum(server.metrics.request_log_dropped.value('logged', r)
                  for r in ('queue_full', 'write_error', 'closed'))
  finally:
    server.stop()
  return {'requests_per_model_and_protocol': requests,
          'batch': batch, 'results': results,
          'records_written': written, 'records_dropped': dropped,
          'log_bytes': sum(os.path.getsize(os.path.join(root, 'logs', f))
                           for f in os.listdir(os.path.join(root, 'logs')))}


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


if __name__ == '__main__':
  sys.exit(main())
