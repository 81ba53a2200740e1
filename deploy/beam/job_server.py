"""Beam's Python job service, reachable from other hosts (runs on the head).

`apache_beam.runners.portability.local_job_service_main` listens on
localhost only, which no other host can reach. This is the same servicer
(`LocalJobServicer`: it runs each submitted job with Beam's FnApiRunner,
handing bundles to SDK workers over gRPC) bound to the head's address and
advertising it for artifact staging. The workers' control, data, state and
logging channels are the FnApiRunner's own servers, bound to every address
of the head and advertised by the head's host name (`socket.getfqdn()`),
which the workers resolve through their /etc/hosts (hosts.py).

Beam's job service also runs every job on a single worker: it builds the
FnApiRunner without the options, and only FnApiRunner.run_pipeline (the
DirectRunner's path) reads --direct_num_workers. `ParallelJob` applies the
option the same way, so a job's bundles are split over that many SDK
workers (one per worker host, through dispatcher.py).

Run it as `python -m deploy.beam.job_server --address A --port P`;
cluster.py does, inside the head's namespace.
"""

import argparse
import logging
import signal
import sys
import tempfile
import threading

from apache_beam.options import pipeline_options
from apache_beam.portability.api import beam_job_api_pb2
from apache_beam.runners.portability import local_job_service
from apache_beam.runners.portability.fn_api_runner import fn_runner

_LOGGER = logging.getLogger(__name__)


class ParallelJob(local_job_service.BeamJob):
  """A job whose bundles go to --direct_num_workers workers, not one."""

  def _invoke_runner(self):
    self.set_state(beam_job_api_pb2.JobState.RUNNING)
    options = self.pipeline_options()
    runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
    # Options reach the job service as strings (a protobuf Struct).
    workers = int(options.view_as(
        pipeline_options.DirectOptions).direct_num_workers or 1)
    # The attribute FnApiRunner.run_pipeline sets from the same option.
    runner._num_workers = workers  # pylint: disable=protected-access
    _LOGGER.info('job %s on %d workers', self._job_id, workers)
    return runner.run_via_runner_api(self._pipeline_proto, options)


class NetworkJobServicer(local_job_service.LocalJobServicer):
  """A LocalJobServicer at a routable address instead of localhost."""

  def __init__(self, address: str, staging_dir: str):
    super().__init__(staging_dir=staging_dir, beam_job_type=ParallelJob)
    self._address = address

  def get_bind_address(self) -> str:
    return self._address

  def get_service_address(self) -> str:
    return self._address


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m deploy.beam.job_server',
      description="Beam's job service at a routable address.")
  parser.add_argument('--address', required=True,
                      help='the address to listen on and advertise')
  parser.add_argument('--port', type=int, required=True)
  parser.add_argument('--staging-dir', default=None,
                      help='where submitted artifacts are staged '
                      '(default: a new temporary folder)')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO,
                      format='%(asctime)s %(name)s %(levelname)s %(message)s')
  servicer = NetworkJobServicer(
      args.address, args.staging_dir or tempfile.mkdtemp(prefix='beam-stage-'))
  port = servicer.start_grpc_server(args.port)
  _LOGGER.info('job service at %s:%d', args.address, port)
  stopped = threading.Event()
  signal.signal(signal.SIGTERM, lambda *_: stopped.set())
  signal.signal(signal.SIGINT, lambda *_: stopped.set())
  stopped.wait()
  servicer.stop()
  return 0


if __name__ == '__main__':
  sys.exit(main())
