"""Serving measured on the pipeline's own model, with real complaints.

`python -m benchmarks.bench_serving` (`make bench-serving`) serves the model
the pipeline pushed (benchmarks/serving_model.py: --serving_dir, else
runs/default/serving, else a small fresh pipeline run) with
`python -m serving.model_server` twice at once, batching off and on, and
loads each with real CFPB complaints (benchmarks/serving_requests.py):

* REST `predict_raw` (row format) with Debian's `wrk`, gRPC `Predict` on
  `serving_default` (serialized tf.Examples) with a grpc.aio client that
  keeps N calls in flight (benchmarks/serving_load.py);
* concurrency 1, 8 and 32 with 1 complaint per request, and 32 with 32;
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
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

from benchmarks import grpc_load
from benchmarks import result_file
from benchmarks import serving_load
from benchmarks import serving_model
from benchmarks import serving_requests

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'serving.json')
# (concurrency, complaints per request).
CONFIGS = ((1, 1), (8, 1), (32, 1), (32, 32))
PROTOCOLS = ('rest', 'grpc')
OVERHEAD_TARGET_MS = 1.0
SPEEDUP_TARGET = 5.0


def config_key(batching: bool, protocol: str, concurrency: int,
               batch: int) -> str:
  return (f'batching_{"on" if batching else "off"}/{protocol}/'
          f'batch_{batch}/concurrency_{concurrency}')


# ---- in-process lower bound -------------------------------------------------


class InProcess:
  """The signatures called in this process on the benchmark's inputs."""

  def __init__(self, version_dir: str, requests: List[List[Dict[str, str]]]):
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
        for rows in requests]
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
  for protocol in PROTOCOLS:
    key = config_key(False, protocol, 1, 1)
    diffs = [r['server'][key]['p50_ms'] - r['in_process_p50_ms'][protocol]
             for r in rounds]
    result[protocol] = {
        'overhead_p50_ms': _spread(diffs),
        'server_p50_ms': _spread([r['server'][key]['p50_ms'] for r in rounds]),
        'in_process_p50_ms': _spread(
            [r['in_process_p50_ms'][protocol] for r in rounds]),
        'rounds_overhead_ms': [round(d, 3) for d in diffs],
    }
  return result


def summarize(results: dict) -> dict:
  """The figures the targets are about, and whether each is met."""
  configs, over = results['configs'], results['overhead_concurrency_1']
  summary = {}
  for protocol in PROTOCOLS:
    overhead = over[protocol]['overhead_p50_ms']['median']
    summary[f'{protocol}_overhead_p50_ms_concurrency_1'] = overhead
    summary[f'{protocol}_overhead_target_met'] = overhead < OVERHEAD_TARGET_MS
    for batch in (1, 32):
      off = configs[config_key(False, protocol, 32, batch)]
      on = configs[config_key(True, protocol, 32, batch)]
      speedup = round(on['throughput_rps']['median'] /
                      max(off['throughput_rps']['median'], 1e-9), 2)
      summary[f'{protocol}_batch_{batch}_c32_batching_speedup'] = speedup
      summary[f'{protocol}_batch_{batch}_c32_rps_off_on'] = [
          off['throughput_rps']['median'], on['throughput_rps']['median']]
      summary[f'{protocol}_batch_{batch}_c32_p99_ms_off_on'] = [
          off['p99_ms']['median'], on['p99_ms']['median']]
    summary[f'{protocol}_speedup_target_met'] = (
        summary[f'{protocol}_batch_1_c32_batching_speedup'] >= SPEEDUP_TARGET)
  summary['errors'] = sum(c['errors'] for c in configs.values())
  return summary


# ---- the run ----------------------------------------------------------------


def _write_inputs(workdir: str, rows, model_name: str):
  """Request files per batch size; returns them and the requests used."""
  files, requests = {}, {}
  for batch in sorted({b for _, b in CONFIGS}):
    requests[batch] = serving_requests.batches(rows, batch)
    rest = os.path.join(workdir, f'rest_batch_{batch}.jsonl')
    with open(rest, 'wb') as f:
      for request in requests[batch]:
        f.write(serving_requests.rest_body(request) + b'\n')
    grpc = os.path.join(workdir, f'grpc_batch_{batch}.bin')
    grpc_load.write_payloads(grpc, [
        serving_requests.grpc_request(r, model_name) for r in requests[batch]])
    files[batch] = {'rest': rest, 'grpc': grpc}
  from tensorflow_serving.apis import get_model_status_pb2  # pylint: disable=g-import-not-at-top
  status_request = get_model_status_pb2.GetModelStatusRequest()
  status_request.model_spec.name = model_name
  files['status'] = os.path.join(workdir, 'grpc_status.bin')
  grpc_load.write_payloads(files['status'],
                           [status_request.SerializeToString()])
  return files, requests


def transport_floor(server, files, seconds: float) -> Dict[str, dict]:
  """A model-status call at concurrency 1: the transport, no model."""
  return {
      'rest_get_status': serving_load.run_wrk(server, None, 1, seconds),
      'grpc_get_model_status': serving_load.run_grpc(
          server, files['status'], 1, seconds, serving_load.STATUS_METHOD)}


def _load(protocol: str, server, path: str, concurrency: int,
          seconds: float) -> dict:
  if protocol == 'rest':
    return serving_load.run_wrk(server, path, concurrency, seconds)
  return serving_load.run_grpc(server, path, concurrency, seconds)


def run(args) -> dict:
  serving_load.check_wrk()
  workdir = tempfile.mkdtemp(prefix='bench_serving_')
  servers = {}
  try:
    model = serving_model.resolve(args.serving_dir, args.model_name, workdir)
    print(f'model: {model["version_dir"]} ({model["source"]})', flush=True)
    rows = serving_requests.real_rows()
    files, requests = _write_inputs(workdir, rows, args.model_name)
    in_process = InProcess(model['version_dir'], requests[1])
    for batching in (False, True):
      servers[batching] = serving_load.ServerProcess(
          model['base_path'], args.model_name, batching, workdir)
    for server in servers.values():  # Warm-up, not recorded.
      for protocol in PROTOCOLS:
        _load(protocol, server, files[1][protocol], 8, 1)
    rss = {b: [] for b in servers}
    rounds = []
    for number in range(args.rounds):
      current = {'in_process_p50_ms': {
          p: round(in_process.p50_ms(p, args.in_process_calls), 3)
          for p in PROTOCOLS}, 'server': {}}
      current['transport_floor'] = transport_floor(servers[False], files,
                                                   args.seconds)
      print(f'round {number + 1}: in-process p50 '
            f'{current["in_process_p50_ms"]}, status-call p50 '
            f'{ {k: v["p50_ms"] for k, v in current["transport_floor"].items()} }',
            flush=True)
      for batching, server in servers.items():
        for protocol in PROTOCOLS:
          for concurrency, batch in CONFIGS:
            key = config_key(batching, protocol, concurrency, batch)
            stats = _load(protocol, server, files[batch][protocol],
                          concurrency, args.seconds)
            current['server'][key] = stats
            print(f'  {key:42s} {stats["throughput_rps"]:8.1f} req/s  p50 '
                  f'{stats["p50_ms"]:7.2f}  p99 {stats["p99_ms"]:7.2f} ms  '
                  f'server {stats["server_cpu_percent"]:5.1f}%  load gen '
                  f'{stats["load_generator_cpu_percent"]:5.1f}%  errors '
                  f'{stats["errors"]}', flush=True)
          rss[batching].append(round(server.rss_mb(), 1))
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
          'distinct_requests_per_config': serving_requests.DISTINCT_REQUESTS,
          'rest': 'POST :predict, signature predict_raw, instances (row '
                  'format); load generator: wrk -t1',
          'grpc': 'Predict, signature serving_default, serialized '
                  'tf.Examples in string_val; load generator: '
                  'benchmarks.grpc_load (grpc.aio, one process)'},
      'batching_config': serving_load.BATCHING_CONFIG,
      'seconds_per_config': args.seconds, 'rounds': args.rounds,
      'configs': aggregate(rounds),
      'overhead_concurrency_1': overheads(rounds),
      'transport_floor_concurrency_1': {
          name: {'p50_ms': _spread([r['transport_floor'][name]['p50_ms']
                                    for r in rounds]),
                 'server_cpu_ms_per_request': _spread(
                     [r['transport_floor'][name]['server_cpu_ms_per_request']
                      for r in rounds])}
          for name in rounds[0]['transport_floor']},
      'server_rss_mb_after_each_round': {
          ('batching_on' if b else 'batching_off'): v for b, v in rss.items()},
      'rounds_raw': rounds,
  }
  results['summary'] = summarize(results)
  return results


def report(results: dict) -> str:
  """The README tables (markdown) from a results file."""
  lines = ['| API | complaints / request | concurrency | batching | req/s '
           '(median, min-max) | p50 ms | p99 ms | server CPU ms / req | '
           'load generator CPU |', '|---|---|---|---|---|---|---|---|---|']
  for protocol in PROTOCOLS:
    for concurrency, batch in CONFIGS:
      for batching in (False, True):
        c = results['configs'][config_key(batching, protocol, concurrency,
                                          batch)]
        t = c['throughput_rps']
        lines.append(
            f'| {"REST" if protocol == "rest" else "gRPC"} | {batch} | '
            f'{concurrency} | {"on" if batching else "off"} | '
            f'{t["median"]:,.0f} ({t["min"]:,.0f}-{t["max"]:,.0f}) | '
            f'{c["p50_ms"]["median"]:.2f} | {c["p99_ms"]["median"]:.2f} | '
            f'{c["server_cpu_ms_per_request"]["median"]:.3f} | '
            f'{c["load_generator_cpu_percent"]["median"]:.0f}% |')
  lines += ['', '| | in-process p50 ms | server p50 ms | overhead ms (median, '
            'min-max) |', '|---|---|---|---|']
  for protocol in PROTOCOLS:
    o = results['overhead_concurrency_1'][protocol]
    lines.append(
        f'| {"REST" if protocol == "rest" else "gRPC"} | '
        f'{o["in_process_p50_ms"]["median"]:.3f} | '
        f'{o["server_p50_ms"]["median"]:.3f} | '
        f'{o["overhead_p50_ms"]["median"]:.3f} '
        f'({o["overhead_p50_ms"]["min"]:.3f}-{o["overhead_p50_ms"]["max"]:.3f})'
        ' |')
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
