"""One worker-pool address in front of several pools (runs on the head).

The portable runner's EXTERNAL environment takes one `host:port`, and the
job service asks it for `--direct_num_workers` workers. On Flink, Spark or
Dataflow the runner places workers itself (a pool beside every TaskManager
or VM, at localhost:50000), but Beam's Python job service has no such
scheduler, so this gRPC service is it: it speaks the same
BeamFnExternalWorkerPool API and passes each StartWorker request on to the
next pool in turn (and a StopWorker to the pool that started that worker).
The worker itself then connects straight to the job service: no data
passes through here.

Run it as `python -m deploy.beam.dispatcher --address A --port P
--pool H1:P1 --pool H2:P2`; cluster.py does, inside the head's namespace.
"""

import argparse
import collections
import itertools
import logging
import signal
import sys
import threading
from concurrent import futures
from typing import Sequence

import grpc
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.portability.api import beam_fn_api_pb2_grpc

# Bounds: a pool that does not answer within this fails the request (the
# job fails with the pool named) instead of hanging the job service.
FORWARD_TIMEOUT_SECONDS = 60.0
# Workers remembered for StopWorker; the oldest are forgotten beyond this
# (the job service's external handler never stops its workers itself).
MAX_REMEMBERED_WORKERS = 10_000

_LOGGER = logging.getLogger(__name__)


class RoundRobinPools(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
  """Hands StartWorker requests to the pools in turn."""

  def __init__(self, pools: Sequence[str]):
    if not pools:
      raise ValueError('at least one pool address is needed')
    self._pools = list(pools)
    self._stubs = {pool: beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(
        grpc.insecure_channel(pool)) for pool in self._pools}
    self._next = itertools.cycle(self._pools)
    self._lock = threading.Lock()
    self._placed = collections.OrderedDict()  # worker id -> pool
    self.started = collections.Counter()      # pool -> workers started

  def StartWorker(self, request, context):
    with self._lock:
      pool = next(self._next)
    _LOGGER.info('worker %s -> pool %s', request.worker_id, pool)
    try:
      response = self._stubs[pool].StartWorker(
          request, timeout=FORWARD_TIMEOUT_SECONDS)
    except grpc.RpcError as error:
      return beam_fn_api_pb2.StartWorkerResponse(
          error=f'worker pool {pool} did not start worker '
          f'{request.worker_id}: {error.code().name}: {error.details()}')
    if not response.error:
      with self._lock:
        self._placed[request.worker_id] = pool
        while len(self._placed) > MAX_REMEMBERED_WORKERS:
          self._placed.popitem(last=False)
        self.started[pool] += 1
        _LOGGER.info('workers started per pool: %s', dict(self.started))
    return response

  def StopWorker(self, request, context):
    with self._lock:
      pool = self._placed.pop(request.worker_id, None)
    if pool is None:
      return beam_fn_api_pb2.StopWorkerResponse()
    try:
      return self._stubs[pool].StopWorker(request,
                                          timeout=FORWARD_TIMEOUT_SECONDS)
    except grpc.RpcError as error:
      return beam_fn_api_pb2.StopWorkerResponse(
          error=f'worker pool {pool}: {error.code().name}: {error.details()}')


def serve(address: str, port: int, pools: Sequence[str]) -> grpc.Server:
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
      RoundRobinPools(pools), server)
  if not server.add_insecure_port(f'{address}:{port}'):
    raise OSError(f'cannot listen on {address}:{port}')
  server.start()
  return server


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m deploy.beam.dispatcher',
      description='One worker-pool address in front of several pools.')
  parser.add_argument('--address', required=True)
  parser.add_argument('--port', type=int, required=True)
  parser.add_argument('--pool', action='append', required=True,
                      metavar='HOST:PORT', help='a worker pool; repeat')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO,
                      format='%(asctime)s %(name)s %(levelname)s %(message)s')
  server = serve(args.address, args.port, args.pool)
  _LOGGER.info('dispatching to %s at %s:%d', args.pool, args.address,
               args.port)
  stopped = threading.Event()
  signal.signal(signal.SIGTERM, lambda *_: stopped.set())
  signal.signal(signal.SIGINT, lambda *_: stopped.set())
  stopped.wait()
  server.stop(1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
