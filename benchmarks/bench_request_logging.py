"""What request logging (logging_config, sampling_rate 1) costs a request.

One server serves the contract-shaped stand-in model twice from the same
version directory: `plain` without a logging_config and `logged` with one
(every request logged). Requests alternate between the two, so both see
the same machine load; the overhead is the difference of the medians.
Each batch size runs on a fresh server; the report holds one entry per
batch size (`batch_1`, `batch_64`), next to `command` and `machine`.

  python -m benchmarks.bench_request_logging [--batch 1,64]
      [--requests 2000,500] [--machine TEXT] [--out FILE]

With --full_disk it measures instead what a full request-log disk costs
(root only: it mounts a tmpfs of --disk_bytes for the log folder). Two
runs, each on a fresh server and a fresh filesystem, of --requests REST
requests of --batch complaints each, every one logged:

* `no_retention` (--request_log_max_total_bytes=0): the logs fill the
  disk. Reported: requests failed, records written and dropped, the files
  created after the first failed write (the listing when the write_error
  counter first moved, against the one after the last request), and the
  lines at WARNING or above the server logged (the target: at most one a
  minute). Then the oldest half of the log files is deleted (an operator
  freeing space) and requests go on until a record is written again:
  `resumed_after_seconds` and `resumed_after_requests`.
* `retention` (--request_log_max_total_bytes at half the disk): the disk
  never fills; the peak bytes used under the log folder and the files
  deleted.

  python -m benchmarks.bench_request_logging --full_disk
      [--disk_bytes 2097152] [--requests 3000] [--batch 16] [--out FILE]
"""

import argparse
import json
import logging
import os
import shlex
import statistics
import subprocess
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
  parser.add_argument('--batch', type=_ints,
                      help='complaints per request, one run per value '
                           '(default 1,64; with --full_disk 16)')
  parser.add_argument('--requests', type=_ints,
                      help='per model and protocol, one per --batch value '
                           '(or one for all; default 2000,500; with '
                           '--full_disk 3000)')
  parser.add_argument('--machine', help='recorded as given (default: the '
                      'core count and how the benchmark runs)')
  parser.add_argument('--out')
  parser.add_argument('--full_disk', action='store_true',
                      help='measure a full request-log disk instead (root)')
  parser.add_argument('--disk_bytes', type=int, default=2 * 1024 * 1024,
                      help='with --full_disk: the log filesystem\'s size')
  args = parser.parse_args(argv)
  if args.full_disk:
    return _full_disk_main(args, argv)
  args.batch = args.batch or [1, 64]
  args.requests = args.requests or [2000, 500]
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
  from serving import client_protocols  # pylint: disable=g-import-not-at-top

  root = tempfile.mkdtemp(prefix='bench_logging_')
  prefix = os.path.join(root, 'logs', 'logged')
  server = _serve(root, prefix, plain=True)
  serialized = _complaints(batch)
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


def _serve(root: str, prefix: str, plain: bool = False, **options):
  """A server of the stand-in model `logged` (every request logged to
  `prefix`), and `plain` (not logged) beside it if asked; started."""
  from serving import example_models  # pylint: disable=g-import-not-at-top
  from serving import model_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top
  base = os.path.join(root, 'complaints')
  if not os.path.isdir(base):
    example_models.write_complaint_model(base, 1)
  config = os.path.join(root, 'models.config')
  models = [{'name': 'plain', 'base_path': base}] if plain else []
  models.append({'name': 'logged', 'base_path': base,
                 'logging': {'filename_prefix': prefix, 'sampling_rate': 1.0}})
  server_config.write_model_server_config(config, models)
  return model_server.ModelServer(server_config.ServerOptions(
      port=_free_port(), rest_api_port=_free_port(),
      bind_address='127.0.0.1', model_config_file=config,
      file_system_poll_wait_seconds=0, **options)).start()


def _complaints(batch: int) -> list:
  """`batch` sample complaints as serialized tf.Examples."""
  from serving import client_inputs  # pylint: disable=g-import-not-at-top
  from serving import example_models  # pylint: disable=g-import-not-at-top
  rows = [client_inputs.to_features(c)
          for c in example_models.sample_complaints(batch)]
  return client_inputs.serialized_examples(
      rows, [str(i) for i in range(len(rows))])


def _full_disk_main(args, argv) -> int:
  if os.geteuid() != 0:
    print('error: --full_disk mounts a tmpfs and needs root', file=sys.stderr)
    return 2
  requests = args.requests[0] if args.requests else 3000
  batch = args.batch[0] if args.batch else 16
  report = {
      'command': ' '.join(['python -m benchmarks.bench_request_logging'] +
                         [shlex.quote(a) for a in argv]),
      'machine': args.machine or (
          f'{os.cpu_count()} cores, server and REST client in one process, '
          'concurrency 1, log folder on a tmpfs'),
      'disk_bytes': args.disk_bytes, 'requests': requests, 'batch': batch,
      'no_retention': _full_disk_run(args.disk_bytes, requests, batch, 0),
      'retention': _full_disk_run(args.disk_bytes, requests, batch,
                                  args.disk_bytes // 2)}
  text = json.dumps(report, indent=1)
  print(text)
  if args.out:
    result_file.write(args.out, report, indent=1)
  return 0


class _LineCounter(logging.Handler):
  """Counts the lines at WARNING or above the server logs, by level."""

  def __init__(self):
    super().__init__(logging.WARNING)
    self.lines = []

  def emit(self, record):
    self.lines.append(f'{record.levelname} {record.getMessage()}'[:300])


def _full_disk_run(disk_bytes: int, requests: int, batch: int,
                   max_total_bytes: int) -> dict:
  """`requests` logged REST requests with the log folder on a small tmpfs."""
  from serving import client_protocols  # pylint: disable=g-import-not-at-top
  root = tempfile.mkdtemp(prefix='bench_logging_disk_')
  logs = os.path.join(root, 'logs')
  os.makedirs(logs)
  subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={disk_bytes}',
                  'tmpfs', logs], check=True)
  prefix = os.path.join(logs, 'logged')
  counter = _LineCounter()
  logging.getLogger().addHandler(counter)
  server = None
  try:
    server = _serve(root, prefix, request_log_max_total_bytes=max_total_bytes,
                    request_log_max_file_bytes=min(
                        64 * 1024 * 1024, max(1, disk_bytes // 8)))
    metrics = server.metrics
    client = client_protocols.make_client(
        'rest', host='127.0.0.1', port=server.rest_port, model_name='logged')
    serialized = _complaints(batch)
    failed, peak_used, files_at_first_failure = 0, 0, None
    started = time.monotonic()

    def send():
      try:
        client.predict_examples(serialized)
        return 0
      except Exception:  # pylint: disable=broad-except
        return 1

    for _ in range(requests):
      failed += send()
      if files_at_first_failure is None and metrics.request_log_dropped.value(
          'logged', 'write_error'):
        files_at_first_failure = set(os.listdir(logs))
      peak_used = max(peak_used, _used_bytes(logs))
    assert server.core.request_logger.flush(timeout=60)
    elapsed = time.monotonic() - started
    files_at_end = set(os.listdir(logs))
    result = {
        'requests_failed': failed,
        'records_written': metrics.request_log_written.value('logged'),
        'records_dropped': {
            reason: metrics.request_log_dropped.value('logged', reason)
            for reason in ('write_error', 'queue_full', 'closed')},
        'files_at_end': len(files_at_end),
        'files_created_after_first_failed_write': (
            None if files_at_first_failure is None
            else len(files_at_end - files_at_first_failure)),
        'peak_bytes_used_on_log_disk': peak_used,
        'seconds': round(elapsed, 1),
        'warning_or_error_lines': len(counter.lines),
        'lines': counter.lines[:10]}
    collector, = server.core.request_logger.collectors()
    result['files_deleted_by_retention'] = collector.deleted_files
    if files_at_first_failure is not None:
      result.update(_resume(server, logs, send))
    client.close()
    return result
  finally:
    logging.getLogger().removeHandler(counter)
    if server is not None:
      server.stop()
    subprocess.run(['umount', '-l', logs], check=False)


def _resume(server, logs, send) -> dict:
  """Frees the oldest half of the log files; requests until one is logged."""
  files = sorted(f for f in os.listdir(logs) if f.endswith('.tfrecord'))
  for name in files[:len(files) // 2]:
    os.remove(os.path.join(logs, name))
  written = server.metrics.request_log_written.value('logged')
  started, sent, failed = time.monotonic(), 0, 0
  while (server.metrics.request_log_written.value('logged') == written and
         time.monotonic() - started < 300):
    failed += send()
    sent += 1
    assert server.core.request_logger.flush(timeout=60)
    time.sleep(0.01)
  return {'resume': {
      'files_deleted_to_free_space': len(files) // 2,
      'resumed': server.metrics.request_log_written.value('logged') > written,
      'resumed_after_seconds': round(time.monotonic() - started, 2),
      'resumed_after_requests': sent, 'requests_failed': failed}}


def _used_bytes(path: str) -> int:
  stats = os.statvfs(path)
  return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


if __name__ == '__main__':
  sys.exit(main())
