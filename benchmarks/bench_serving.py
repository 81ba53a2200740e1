"""Serving measured on the pipeline's own model, old transport next to new.

`python -m benchmarks.bench_serving` (`make bench-serving`) serves the model
the pipeline pushed (benchmarks/serving_model.py: --serving_dir, else
runs/default/serving, else a small fresh pipeline run) with
`python -m serving.model_server` four times at once: both transports
(`--server_transport=threads`, a thread per REST connection and grpcio's
thread-pool server; `event_loop`, uvloop + httptools and grpc.aio on one
loop), each with batching off and on. It loads each with real CFPB
complaints (benchmarks/serving_requests.py):

* REST `predict_raw` (row format) with Debian's `wrk`, gRPC `Predict` on
  `serving_default` (serialized tf.Examples) with Debian's `h2load`
  (benchmarks/serving_load.py), 1 complaint per request, at concurrency 1,
  8, 32 and 128;
* at concurrency 32 with batching, REST twice more, back to back: without
  and then with IDLE_CONNECTIONS idle connections held open (connected,
  sending nothing): the server's threads and RSS before and while they are
  open, and the two runs' p99s;
* `--rounds` rounds (default 3), every configuration `--seconds` long
  (default 5) in each, interleaved so that drift in the shared machine's
  speed spreads over all of them; medians and min-max spreads reported;
* the in-process call (the same signature on the same inputs through
  serving.servable, no transport) measured in every round right before the
  concurrency-1 runs: overhead = server p50 - in-process p50, per round;
* the CPU the server and the load generator took, and the server's RSS.

Results go to benchmarks/results/serving.json; `--report FILE` prints the
README tables from such a file.
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

from benchmarks import result_file
from components import features
from benchmarks import serving_load
from benchmarks import serving_model
from benchmarks import serving_requests

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'serving.json')
TRANSPORTS = ('threads', 'event_loop')
CONCURRENCIES = (1, 8, 32, 128)
PROTOCOLS = ('rest', 'grpc')
IDLE_CONNECTIONS = 1000
# Issue 27's targets (the new transport against the old, same run).
THROUGHPUT_TARGET = 2.5  # x the old transport, concurrency 32, batching on.
REST_OVERHEAD_TARGET_MS = 0.3
GRPC_OVERHEAD_TARGET = 0.6  # x the old transport's overhead.
IDLE_RSS_TARGET_MB = 50
IDLE_P99_TARGET = 1.2  # x the p99 without idle connections.


def config_key(transport: str, batching: bool, protocol: str,
               concurrency: int) -> str:
  return (f'{transport}/batching_{"on" if batching else "off"}/{protocol}/'
          f'concurrency_{concurrency}')


# ---- in-process lower bound -------------------------------------------------


class InProcess:
  """The signatures called in this process on the benchmark's inputs."""

  def __init__(self, version_dir: str, requests: List[List[Dict[str, str]]],
               grpc_request: List[Dict[str, str]]):
    import numpy as np  # pylint: disable=g-import-not-at-top
    from components import features  # pylint: disable=g-import-not-at-top
    from serving import client_inputs  # pylint: disable=g-import-not-at-top
    from serving import servable  # pylint: disable=g-import-not-at-top
    self._model = servable.Servable('bench', 1, version_dir)
    self._model.load()
    self._raw = [{k: np.array([r[k].encode('utf-8') for r in rows],
                              dtype=object) for k in features.RAW_FEATURES}
                 for rows in requests]
    self._examples = [
        {features.EXAMPLES_INPUT: np.array(
            client_inputs.serialized_examples(rows), dtype=object)}
        for rows in [grpc_request]]
    self._signatures = {'rest': features.RAW_SIGNATURE,
                        'grpc': features.EXAMPLES_SIGNATURE}

  def p50_ms(self, protocol: str, calls: int) -> float:
    """Median latency of `calls` calls cycling through the requests."""
    signature = self._signatures[protocol]
    inputs = self._raw if protocol == 'rest' else self._examples
    for i in range(min(30, calls)):
      self._model.predict(signature, inputs[i % len(inputs)])
    times = []
    for i in range(calls):
      start = time.perf_counter()
      self._model.predict(signature, inputs[i % len(inputs)])
      times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


# ---- aggregation ------------------------------------------------------------


def _spread(values: List[float], digits: int = 3) -> Dict[str, object]:
  return {'median': round(statistics.median(values), digits),
          'min': round(min(values), digits), 'max': round(max(values), digits)}


def aggregate(rounds: List[dict]) -> Dict[str, dict]:
  """Per configuration: medians and spreads of the rounds' figures."""
  out = {}
  for key in rounds[0]['server']:
    runs = [r['server'][key] for r in rounds]
    out[key] = {
        'throughput_rps': _spread([r['throughput_rps'] for r in runs], 1),
        'p50_ms': _spread([r['p50_ms'] for r in runs]),
        'p99_ms': _spread([r['p99_ms'] for r in runs]),
        'server_cpu_ms_per_request': _spread(
            [r['server_cpu_ms_per_request'] for r in runs]),
        'server_cpu_percent': _spread([r['server_cpu_percent'] for r in runs],
                                      1),
        'load_generator_cpu_percent': _spread(
            [r['load_generator_cpu_percent'] for r in runs], 1),
        'requests': sum(r['requests'] for r in runs),
        'errors': sum(r['errors'] for r in runs),
    }
  return out


def overheads(rounds: List[dict]) -> Dict[str, dict]:
  result = {}
  for transport in TRANSPORTS:
    for protocol in PROTOCOLS:
      key = config_key(transport, False, protocol, 1)
      diffs = [r['server'][key]['p50_ms'] - r['in_process_p50_ms'][protocol]
               for r in rounds]
      result[f'{transport}/{protocol}'] = {
          'overhead_p50_ms': _spread(diffs),
          'server_p50_ms': _spread([r['server'][key]['p50_ms']
                                    for r in rounds]),
          'in_process_p50_ms': _spread(
              [r['in_process_p50_ms'][protocol] for r in rounds]),
          'rounds_overhead_ms': [round(d, 3) for d in diffs],
      }
  return result


def idle_figures(rounds: List[dict]) -> Dict[str, dict]:
  out = {}
  for transport in TRANSPORTS:
    runs = [r['idle'][transport] for r in rounds]
    out[transport] = {
        key: _spread([run[key] for run in runs], 3)
        for key in ('threads_delta', 'rss_delta_mb', 'p99_ms',
                    'p99_ms_without', 'p99_ratio', 'throughput_rps')}
    out[transport]['errors'] = sum(run['errors'] for run in runs)
    out[transport]['rounds'] = runs
  return out


def summarize(results: dict) -> dict:
  """The figures issue 27's targets are about, and whether each is met."""
  configs, over = results['configs'], results['overhead_concurrency_1']
  summary = {}
  for protocol in PROTOCOLS:
    rps = {t: configs[config_key(t, True, protocol, 32)]['throughput_rps'][
        'median'] for t in TRANSPORTS}
    ratio = round(rps['event_loop'] / max(rps['threads'], 1e-9), 2)
    summary[f'{protocol}_c32_batching_rps_old_new'] = [rps['threads'],
                                                       rps['event_loop']]
    summary[f'{protocol}_c32_batching_new_over_old'] = ratio
    summary[f'{protocol}_throughput_target_met'] = ratio >= THROUGHPUT_TARGET
    for transport in TRANSPORTS:
      off = configs[config_key(transport, False, protocol, 32)]
      on = configs[config_key(transport, True, protocol, 32)]
      summary[f'{protocol}_{transport}_c32_batching_speedup'] = round(
          on['throughput_rps']['median'] /
          max(off['throughput_rps']['median'], 1e-9), 2)
    old = over[f'threads/{protocol}']['overhead_p50_ms']['median']
    new = over[f'event_loop/{protocol}']['overhead_p50_ms']['median']
    summary[f'{protocol}_overhead_p50_ms_old_new'] = [old, new]
  summary['rest_overhead_target_met'] = (
      summary['rest_overhead_p50_ms_old_new'][1] < REST_OVERHEAD_TARGET_MS)
  old, new = summary['grpc_overhead_p50_ms_old_new']
  summary['grpc_overhead_target_met'] = new <= GRPC_OVERHEAD_TARGET * old
  idle = results['idle_connections']
  for transport in TRANSPORTS:
    figures = idle[transport]
    summary[f'idle_{transport}'] = {
        'threads_delta': figures['threads_delta']['median'],
        'rss_delta_mb': figures['rss_delta_mb']['median'],
        'p99_ratio': figures['p99_ratio']['median'],
        'errors': figures['errors']}
  new_idle = summary['idle_event_loop']
  summary['idle_target_met'] = (
      idle['event_loop']['threads_delta']['max'] <= 0 and
      new_idle['rss_delta_mb'] < IDLE_RSS_TARGET_MB and
      new_idle['p99_ratio'] <= IDLE_P99_TARGET and new_idle['errors'] == 0)
  summary['errors_by_transport'] = {
      t: sum(c['errors'] for k, c in configs.items() if k.startswith(t + '/'))
      for t in TRANSPORTS}
  return summary


# ---- the run ----------------------------------------------------------------


def _write_inputs(workdir: str, rows, model_name: str):
  """Request files: REST bodies (wrk cycles them), one gRPC body (h2load
  sends one), the status call's; returns them and the requests used."""
  requests = serving_requests.batches(rows, 1)
  rest = os.path.join(workdir, 'rest_batch_1.jsonl')
  with open(rest, 'wb') as f:
    for request in requests:
      f.write(serving_requests.rest_body(request) + b'\n')
  # The request whose narrative has the median length of those sent.
  by_length = sorted(requests, key=lambda r: len(r[0][features.NARRATIVE]))
  median = by_length[len(by_length) // 2]
  grpc = os.path.join(workdir, 'grpc_predict.bin')
  serving_load.write_grpc_message(grpc, serving_requests.grpc_request(
      median, model_name))
  from tensorflow_serving.apis import get_model_status_pb2  # pylint: disable=g-import-not-at-top
  status_request = get_model_status_pb2.GetModelStatusRequest()
  status_request.model_spec.name = model_name
  status = os.path.join(workdir, 'grpc_status.bin')
  serving_load.write_grpc_message(status, status_request.SerializeToString())
  return {'rest': rest, 'grpc': grpc, 'status': status}, requests, median


def transport_floor(server, files, seconds: float) -> Dict[str, dict]:
  """A model-status call at concurrency 1: the transport, no model."""
  return {
      'rest_get_status': serving_load.run_wrk(server, None, 1, seconds),
      'grpc_get_model_status': serving_load.run_h2load(
          server, files['status'], 1, seconds, serving_load.STATUS_METHOD,
          check_status=False)}


def _load(protocol: str, server, files, concurrency: int,
          seconds: float) -> dict:
  if protocol == 'rest':
    return serving_load.run_wrk(server, files['rest'], concurrency, seconds)
  return serving_load.run_h2load(server, files['grpc'], concurrency, seconds)


def _idle_run(server, files, seconds: float) -> dict:
  """REST at concurrency 32 with IDLE_CONNECTIONS idle connections open,
  right after the same run without them: the p99s compared are measured
  back to back (not minutes apart, which on shared cores compared the
  machine's drift as much as the idle connections)."""
  without = serving_load.run_wrk(server, files['rest'], 32, seconds)
  threads, rss = server.threads(), server.rss_mb()
  sockets = []
  try:
    for _ in range(IDLE_CONNECTIONS):
      sockets.append(socket.create_connection(('127.0.0.1', server.rest_port),
                                              timeout=10))
    time.sleep(1.0)  # Accepted (or refused) by now.
    threads_open, rss_open = server.threads(), server.rss_mb()
    stats = serving_load.run_wrk(server, files['rest'], 32, seconds)
    threads_open = max(threads_open, server.threads())
    rss_open = max(rss_open, server.rss_mb())
    still_open = sum(1 for s in sockets if _open(s))
  finally:
    for sock in sockets:
      sock.close()
  return {'threads_before': threads, 'threads_open': threads_open,
          'threads_delta': threads_open - threads,
          'rss_before_mb': round(rss, 1), 'rss_open_mb': round(rss_open, 1),
          'rss_delta_mb': round(rss_open - rss, 1),
          'idle_still_open_after_run': still_open,
          'p99_ms': stats['p99_ms'], 'p99_ms_without': without['p99_ms'],
          'p99_ratio': round(stats['p99_ms'] / max(without['p99_ms'], 1e-9),
                             3),
          'throughput_rps': stats['throughput_rps'],
          'errors': stats['errors']}


def _open(sock: socket.socket) -> bool:
  """False once the server closed the connection."""
  sock.setblocking(False)
  try:
    return sock.recv(1) != b''
  except BlockingIOError:
    return True
  except OSError:
    return False


def run(args) -> dict:
  serving_load.check_tools()
  workdir = tempfile.mkdtemp(prefix='bench_serving_')
  servers = {}
  try:
    model = serving_model.resolve(args.serving_dir, args.model_name, workdir)
    print(f'model: {model["version_dir"]} ({model["source"]})', flush=True)
    rows = serving_requests.real_rows()
    files, requests, grpc_rows = _write_inputs(workdir, rows,
                                               args.model_name)
    in_process = InProcess(model['version_dir'], requests, grpc_rows)
    for transport in TRANSPORTS:
      for batching in (False, True):
        servers[transport, batching] = serving_load.ServerProcess(
            model['base_path'], args.model_name, batching, workdir,
            [f'--server_transport={transport}'],
            name=f'{transport}_batching_{batching}')
    for server in servers.values():  # Warm-up, not recorded.
      for protocol in PROTOCOLS:
        _load(protocol, server, files, 8, 1)
    rss = {f'{t}/batching_{"on" if b else "off"}': []
           for t, b in servers}
    rounds = []
    for number in range(args.rounds):
      current = {'in_process_p50_ms': {
          p: round(in_process.p50_ms(p, args.in_process_calls), 3)
          for p in PROTOCOLS}, 'server': {}, 'transport_floor': {},
                 'idle': {}}
      for transport in TRANSPORTS:
        current['transport_floor'][transport] = transport_floor(
            servers[transport, False], files, args.seconds)
      print(f'round {number + 1}: in-process p50 '
            f'{current["in_process_p50_ms"]}', flush=True)
      for (transport, batching), server in servers.items():
        for protocol in PROTOCOLS:
          for concurrency in CONCURRENCIES:
            key = config_key(transport, batching, protocol, concurrency)
            stats = _load(protocol, server, files, concurrency, args.seconds)
            current['server'][key] = stats
            print(f'  {key:44s} {stats["throughput_rps"]:8.1f} req/s  p50 '
                  f'{stats["p50_ms"]:7.2f}  p99 {stats["p99_ms"]:7.2f} ms  '
                  f'server {stats["server_cpu_percent"]:5.1f}%  load gen '
                  f'{stats["load_generator_cpu_percent"]:5.1f}%  errors '
                  f'{stats["errors"]}', flush=True)
        if batching:
          idle = _idle_run(server, files, args.seconds)
          current['idle'][transport] = idle
          print(f'  {transport} + {IDLE_CONNECTIONS} idle connections: '
                f'{idle}', flush=True)
        rss[f'{transport}/batching_{"on" if batching else "off"}'].append(
            round(server.rss_mb(), 1))
      rounds.append(current)
  finally:
    for server in servers.values():
      server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
  results = {
      'command': 'python -m benchmarks.bench_serving ' + ' '.join(
          sys.argv[1:] if args.argv is None else args.argv),
      'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                  'platform': platform.platform()},
      'model': {'source': model['source'], 'version': model['version']},
      'requests': {
          'rows_from': os.path.relpath(serving_requests.REAL_ROWS,
                                       serving_model.REPO),
          'narrative_length_chars': serving_requests.length_summary(rows),
          'distinct_requests_rest': serving_requests.DISTINCT_REQUESTS,
          'rest': 'POST :predict, signature predict_raw, instances (row '
                  'format), 1 complaint; load generator: wrk -t1 -cN',
          'grpc': 'Predict, signature serving_default, one serialized '
                  'tf.Example (the complaint of median narrative length); '
                  'load generator: h2load -t1 -c1 -mN; errors = calls done '
                  'minus calls the server counted OK'},
      'transports': {
          'threads': '--server_transport=threads: http.server, a thread '
                     'per REST connection; grpcio thread-pool server',
          'event_loop': '--server_transport=event_loop: uvloop + httptools '
                        'REST and grpc.aio on one event loop'},
      'batching_config': serving_load.BATCHING_CONFIG,
      'seconds_per_config': args.seconds, 'rounds': args.rounds,
      'configs': aggregate(rounds),
      'overhead_concurrency_1': overheads(rounds),
      'transport_floor_concurrency_1': {
          f'{t}/{name}': {
              'p50_ms': _spread([r['transport_floor'][t][name]['p50_ms']
                                 for r in rounds]),
              'server_cpu_ms_per_request': _spread(
                  [r['transport_floor'][t][name]['server_cpu_ms_per_request']
                   for r in rounds])}
          for t in TRANSPORTS for name in rounds[0]['transport_floor'][t]},
      'idle_connections': idle_figures(rounds),
      'idle_connections_count': IDLE_CONNECTIONS,
      'server_rss_mb_after_each_round': rss,
      'rounds_raw': rounds,
  }
  results['summary'] = summarize(results)
  return results


def report(results: dict) -> str:
  """The README tables (markdown) from a results file."""
  lines = ['| API | concurrency | batching | transport | req/s (median, '
           'min-max) | p50 ms | p99 ms | server CPU ms / req | load '
           'generator CPU |', '|---|---|---|---|---|---|---|---|---|']
  for protocol in PROTOCOLS:
    for concurrency in CONCURRENCIES:
      for batching in (False, True):
        for transport in TRANSPORTS:
          c = results['configs'][config_key(transport, batching, protocol,
                                            concurrency)]
          t = c['throughput_rps']
          lines.append(
              f'| {"REST" if protocol == "rest" else "gRPC"} | '
              f'{concurrency} | {"on" if batching else "off"} | '
              f'{"old" if transport == "threads" else "new"} | '
              f'{t["median"]:,.0f} ({t["min"]:,.0f}-{t["max"]:,.0f}) | '
              f'{c["p50_ms"]["median"]:.2f} | {c["p99_ms"]["median"]:.2f} | '
              f'{c["server_cpu_ms_per_request"]["median"]:.3f} | '
              f'{c["load_generator_cpu_percent"]["median"]:.0f}% |')
  lines += ['', '| | transport | in-process p50 ms | server p50 ms | '
            'overhead ms (median, min-max) |', '|---|---|---|---|---|']
  for protocol in PROTOCOLS:
    for transport in TRANSPORTS:
      o = results['overhead_concurrency_1'][f'{transport}/{protocol}']
      lines.append(
          f'| {"REST" if protocol == "rest" else "gRPC"} | '
          f'{"old" if transport == "threads" else "new"} | '
          f'{o["in_process_p50_ms"]["median"]:.3f} | '
          f'{o["server_p50_ms"]["median"]:.3f} | '
          f'{o["overhead_p50_ms"]["median"]:.3f} '
          f'({o["overhead_p50_ms"]["min"]:.3f}-'
          f'{o["overhead_p50_ms"]["max"]:.3f}) |')
  lines += ['', f'| {results.get("idle_connections_count", 1000)} idle '
            'connections, REST c32 batching | threads + | RSS + MB | p99 ms '
            '(without) | req/s | errors |', '|---|---|---|---|---|---|']
  for transport in TRANSPORTS:
    i = results['idle_connections'][transport]
    lines.append(
        f'| {"old" if transport == "threads" else "new"} | '
        f'{i["threads_delta"]["median"]:.0f} | '
        f'{i["rss_delta_mb"]["median"]:.1f} | {i["p99_ms"]["median"]:.2f} '
        f'({i["p99_ms_without"]["median"]:.2f}) | '
        f'{i["throughput_rps"]["median"]:,.0f} | {i["errors"]} |')
  return '\n'.join(lines)


def _positive(convert):
  def parse(text):
    try:
      value = convert(text)
    except ValueError:
      value = 0
    if value <= 0:
      raise argparse.ArgumentTypeError(f'expected a positive number, got '
                                       f'{text!r}')
    return value
  return parse


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_serving',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--seconds', type=_positive(int), default=5,
                      help='seconds per configuration and round (default 5)')
  parser.add_argument('--rounds', type=_positive(int), default=3,
                      help='rounds of every configuration (default 3)')
  parser.add_argument('--in_process_calls', type=_positive(int), default=500,
                      help='in-process calls per round (default 500)')
  parser.add_argument('--serving_dir', help='serving directory of a pushed '
                      'model (default: runs/default/serving, else a fresh '
                      'small pipeline run)')
  parser.add_argument('--model_name', default='complaints')
  parser.add_argument('--output', default=RESULTS)
  parser.add_argument('--report', metavar='RESULTS_JSON',
                      help='print the README tables of a results file; run '
                           'nothing')
  args = parser.parse_args(argv)
  args.argv = argv
  try:
    if args.report:
      with open(args.report, encoding='utf-8') as f:
        print(report(json.load(f)))
      return 0
    results = run(args)
  except (serving_load.LoadError, serving_model.ModelNotFound, OSError,
          ValueError, KeyError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps(results['summary'], indent=2))
  result_file.write(args.output, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
