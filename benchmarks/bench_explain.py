"""What `:explain` costs next to `:predict`, on the pipeline's own model.

`python -m benchmarks.bench_explain` (`make bench-explain`) serves the
model the pipeline pushed (benchmarks/serving_model.py: --serving_dir,
else runs/default/serving, else a small fresh pipeline run) with
`python -m serving.model_server` as a child process (the default
event-loop transport, no batching), and sends it real CFPB complaints
(benchmarks/serving_requests.py: the 180 real narratives) in
`predict_raw`'s row format, the same bodies to both verbs, 1 and 32
complaints per request, one request at a time over one keep-alive
connection. Requests alternate between the two verbs, so both see the same
machine; after WARMUP requests of each, latency is measured at the client
(request written to answer read). Reported per batch size and verb: p50,
p99 and mean ms, the answer's size, and explain's p50 and p99 over
predict's (with the machine's load average before and after).

Results go to benchmarks/results/explain.json. Run it alone on the
machine: `flock /tmp/heavy.lock make bench-explain`.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

from benchmarks import result_file
from benchmarks import serving_model
from benchmarks import serving_requests

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'explain.json')
BATCHES = (1, 32)
VERBS = ('predict', 'explain')
WARMUP = 20


def _percentile(values: List[float], q: float) -> float:
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(port: int, path: str, bodies: List[bytes], requests: int
             ) -> Dict[str, Dict[str, float]]:
  """Alternating predict and explain calls; latency per verb."""
  conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  headers = {'Content-Type': 'application/json'}
  times = {verb: [] for verb in VERBS}
  sizes = {verb: [] for verb in VERBS}
  try:
    for i in range(WARMUP + requests):
      body = bodies[i % len(bodies)]
      for verb in (VERBS if i % 2 else VERBS[::-1]):
        start = time.perf_counter()
        conn.request('POST', f'{path}:{verb}', body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - start) * 1e3
        if response.status != 200:
          raise RuntimeError(f':{verb} answered HTTP {response.status}: '
                             f'{data[:300]!r}')
        if i >= WARMUP:
          times[verb].append(elapsed)
          sizes[verb].append(len(data))
  finally:
    conn.close()
  return {verb: {'requests': len(times[verb]),
                 'p50_ms': round(statistics.median(times[verb]), 3),
                 'p99_ms': round(_percentile(times[verb], 0.99), 3),
                 'mean_ms': round(statistics.mean(times[verb]), 3),
                 'answer_bytes_median': int(statistics.median(sizes[verb]))}
          for verb in VERBS}


def run(args) -> dict:
  from serving import child_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top
  scratch = tempfile.mkdtemp(prefix='bench_explain_')
  model = serving_model.resolve(args.serving_dir, args.model_name, scratch)
  config = os.path.join(scratch, 'models.config')
  server_config.write_model_server_config(config, [
      {'name': args.model_name, 'base_path': model['base_path']}])
  rows = serving_requests.real_rows()
  results = {'model': model, 'narratives': serving_requests.length_summary(
      rows), 'transport': 'event_loop (default), no batching, concurrency 1',
             'warmup_requests_per_verb': WARMUP, 'batches': {}}
  with child_server.ChildServer(config, [args.model_name],
                                os.path.join(scratch, 'server.log')) as server:
    path = f'/v1/models/{args.model_name}'
    for batch, requests in zip(BATCHES, (args.requests, args.requests_32)):
      bodies = [serving_requests.rest_body(b)
                for b in serving_requests.batches(rows, batch)]
      load = os.getloadavg()[0]
      measured = _measure(server.rest_port, path, bodies, requests)
      # The machine is shared: its 1-minute load before and after.
      measured['load_average_1m'] = [round(load, 2),
                                     round(os.getloadavg()[0], 2)]
      measured['explain_over_predict_p50'] = round(
          measured['explain']['p50_ms'] / measured['predict']['p50_ms'], 3)
      measured['explain_over_predict_p99'] = round(
          measured['explain']['p99_ms'] / measured['predict']['p99_ms'], 3)
      results['batches'][str(batch)] = measured
      print(f'batch {batch}: ' + json.dumps(measured), flush=True)
  return results


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_explain',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--serving_dir', help='serving directory of a pushed '
                      'model (default: runs/default/serving, else a fresh '
                      'small pipeline run)')
  parser.add_argument('--model_name', default='complaints')
  parser.add_argument('--requests', type=int, default=1000,
                      help='measured requests per verb, 1 complaint each '
                      '(default 1000)')
  parser.add_argument('--requests_32', type=int, default=300,
                      help='measured requests per verb, 32 complaints each '
                      '(default 300)')
  parser.add_argument('--output', default=RESULTS)
  args = parser.parse_args(argv)
  if args.requests < 1 or args.requests_32 < 1:
    parser.error('--requests and --requests_32 must be at least 1')
  try:
    results = run(args)
  except (serving_model.ModelNotFound, RuntimeError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  result_file.write(args.output, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
