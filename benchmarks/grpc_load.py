"""A pipelining gRPC load generator: N calls in flight from one process.

`python -m benchmarks.grpc_load --port P --payloads FILE --concurrency N
--seconds S` sends serialized PredictRequests (FILE: each one prefixed by
its 4-byte big-endian length) to PredictionService/Predict (or --method)
with grpc.aio, N coroutines on one event loop each keeping one call in
flight; at concurrency 1, a blocking stub in a loop. A thread per
connection (the old benchmark's way) costs the shared cores more CPU than
the server spends; one asyncio loop on grpcio's C core costs a fraction.
Requests and responses stay bytes: no proto is built or parsed per call.

Prints one JSON line: requests, errors, latency percentiles (ms), and the
CPU this process took over the measured window (user + system seconds),
so the benchmark can report what the load generator cost.
"""

import argparse
import asyncio
import json
import os
import struct
import sys
import time
from typing import List

import grpc

METHOD = '/tensorflow.serving.PredictionService/Predict'
WARMUP_SECONDS = 0.5


def read_payloads(path: str) -> List[bytes]:
  with open(path, 'rb') as f:
    data = f.read()
  payloads, offset = [], 0
  while offset < len(data):
    (size,) = struct.unpack_from('>I', data, offset)
    payloads.append(data[offset + 4:offset + 4 + size])
    offset += 4 + size
  return payloads


def write_payloads(path: str, payloads: List[bytes]) -> None:
  with open(path, 'wb') as f:
    for payload in payloads:
      f.write(struct.pack('>I', len(payload)) + payload)


def percentile(ordered: List[float], q: float) -> float:
  return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(port: int, payloads: List[bytes], concurrency: int,
               seconds: float, method: str) -> dict:
  async with grpc.aio.insecure_channel(f'127.0.0.1:{port}') as channel:
    predict = channel.unary_unary(method)  # bytes in, bytes out
    await predict(payloads[0], timeout=60)
    latencies: List[float] = []
    errors: List[str] = []
    state = {'measuring': False, 'stop': False, 'total': 0}

    async def worker(index: int):
      i = index
      while not state['stop']:
        payload = payloads[i % len(payloads)]
        i += concurrency
        start = time.perf_counter()
        try:
          await predict(payload, timeout=60)
        except grpc.RpcError as e:
          if state['measuring']:
            errors.append(f'{e.code().name}: {e.details()}'[:200])
          continue
        state['total'] += 1
        if state['measuring']:
          latencies.append(time.perf_counter() - start)

    tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(WARMUP_SECONDS)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    state['measuring'] = True
    await asyncio.sleep(seconds)
    state['measuring'] = False
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    state['stop'] = True
    await asyncio.gather(*tasks)
  return _result(latencies, errors, wall, state['total'], cpu)


def _run_blocking(port: int, payloads: List[bytes], seconds: float,
                  method: str) -> dict:
  """One call in flight with grpcio's blocking stub: at concurrency 1
  there is nothing to pipeline, and a blocking call skips the event loop's
  own latency (~0.1 ms a call), so the server's figure stays the server's."""
  with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
    call = channel.unary_unary(method)
    call(payloads[0], timeout=60)
    latencies: List[float] = []
    errors: List[str] = []
    total, i = 0, 0
    end_warmup = time.perf_counter() + WARMUP_SECONDS
    while time.perf_counter() < end_warmup:
      call(payloads[i % len(payloads)], timeout=60)
      i += 1
      total += 1
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    end = wall_start + seconds
    while True:
      start = time.perf_counter()
      if start >= end:
        break
      try:
        call(payloads[i % len(payloads)], timeout=60)
      except grpc.RpcError as e:
        errors.append(f'{e.code().name}: {e.details()}'[:200])
        continue
      finally:
        i += 1
      total += 1
      latencies.append(time.perf_counter() - start)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
  return _result(latencies, errors, wall, total, cpu)


def _result(latencies, errors, wall, total, cpu) -> dict:
  ordered = sorted(latencies)
  return {
      'requests': len(ordered), 'errors': len(errors),
      'first_error': errors[0] if errors else None,
      'seconds': round(wall, 3),
      'requests_sent_total': total,
      'p50_ms': round(percentile(ordered, 0.5) * 1e3, 3) if ordered else None,
      'p99_ms': round(percentile(ordered, 0.99) * 1e3, 3) if ordered else None,
      'load_generator_cpu_s': round(cpu, 3),
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.grpc_load',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--port', type=int, required=True)
  parser.add_argument('--payloads', required=True)
  parser.add_argument('--concurrency', type=int, default=1)
  parser.add_argument('--seconds', type=float, default=5.0)
  parser.add_argument('--method', default=METHOD,
                      help=f'the RPC to call (default {METHOD})')
  args = parser.parse_args(argv)
  if args.concurrency < 1 or args.seconds <= 0:
    parser.error('--concurrency and --seconds must be positive')
  if not os.path.isfile(args.payloads):
    parser.error(f'no payload file {args.payloads}')
  payloads = read_payloads(args.payloads)
  if not payloads:
    parser.error(f'{args.payloads} holds no payload')
  if args.concurrency == 1:
    result = _run_blocking(args.port, payloads, args.seconds, args.method)
  else:
    result = asyncio.run(_run(args.port, payloads, args.concurrency,
                              args.seconds, args.method))
  print(json.dumps(result))
  return 0


if __name__ == '__main__':
  sys.exit(main())
