"""Where the serving CPU goes, by thread, under load (issue 27's analysis).

`python -m benchmarks.serving_threads --serving_dir DIR` serves the pushed
model in this process (batching on, the benchmark's batching config), once
per transport, loads it for `--seconds` with wrk (REST, concurrency 32) and
h2load (gRPC, 32 streams), and reads every OS thread's CPU time
(/proc/<pid>/task) before and after: the event loop's or the connection
threads', the batch threads', the worker pools', and the rest (TensorFlow's
and gRPC core's own native threads). Per request, in ms of CPU. Writes
benchmarks/results/serving_threads.json.
"""

import argparse
import os
import sys
import tempfile
import threading
import time

import psutil

from benchmarks import result_file
from benchmarks import serving_load
from benchmarks import serving_requests

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'serving_threads.json')


def _thread_cpu() -> dict:
  return {t.id: t.user_time + t.system_time
          for t in psutil.Process().threads()}


def _groups(server) -> dict:
  """OS thread id -> group name, for the Python threads we know."""
  groups = {}
  for thread in threading.enumerate():
    name = thread.name
    if thread.native_id is None:
      continue
    if name == 'serving_event_loop':
      group = 'event loop'
    elif name.startswith(('batch_threads', 'model_server_batch')):
      group = 'batch threads'
    elif '(_poll_wrapper)' in name or '(_serve)' in name:
      group = 'gRPC polling thread'
    elif 'process_request_thread' in name:
      group = 'REST connection threads'
    elif name.startswith('rest_api'):
      group = 'REST pool'
    elif name.startswith('grpc'):
      group = 'gRPC pool'
    elif name == 'MainThread':
      group = 'benchmark main thread'
    else:
      group = 'other Python threads'
    groups[thread.native_id] = group
  del server
  return groups


def measure(transport: str, base_path: str, seconds: int, workdir: str,
            files: dict) -> dict:
  from serving import model_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top
  config = os.path.join(workdir, 'batching.config')
  with open(config, 'w', encoding='utf-8') as f:
    f.write(serving_load.BATCHING_CONFIG)
  monitoring = os.path.join(workdir, 'monitoring.config')
  with open(monitoring, 'w', encoding='utf-8') as f:
    f.write(serving_load.MONITORING_CONFIG)
  options = server_config.ServerOptions(
      port=serving_load.child_server.free_port(),
      rest_api_port=serving_load.child_server.free_port(),
      bind_address='127.0.0.1', model_name='complaints',
      model_base_path=base_path, file_system_poll_wait_seconds=0,
      enable_batching=True, batching_parameters_file=config,
      monitoring_config_file=monitoring, server_transport=transport)
  server = model_server.ModelServer(options).start()
  handle = _InProcess(server)
  out = {}
  try:
    for protocol in ('rest', 'grpc'):
      run = (serving_load.run_wrk if protocol == 'rest'
             else serving_load.run_h2load)
      run(handle, files[protocol], 32, 1)  # Warm-up.
      before, process_before = _thread_cpu(), handle.cpu_seconds()
      stats = run(handle, files[protocol], 32, seconds)
      groups = _groups(server)  # Before the connection threads end.
      after, process_after = _thread_cpu(), handle.cpu_seconds()
      cpu = {}
      for tid, total in after.items():
        group = groups.get(tid, 'native threads (TensorFlow, gRPC core)')
        cpu[group] = cpu.get(group, 0.0) + total - before.get(tid, 0.0)
      # Threads that ended during the run (the former transport's
      # connection threads) are in the process's total only.
      ended = (process_after - process_before) - sum(cpu.values())
      if ended > 0.005 * seconds:
        cpu['threads that ended (REST connection threads)'] = ended
      requests = max(stats['requests'], 1)
      out[protocol] = {
          'throughput_rps': stats['throughput_rps'],
          'errors': stats['errors'],
          'cpu_ms_per_request': {k: round(1e3 * v / requests, 4)
                                 for k, v in sorted(cpu.items())},
          'cpu_ms_per_request_total': round(1e3 * sum(cpu.values()) /
                                            requests, 4)}
      print(transport, protocol, out[protocol], flush=True)
  finally:
    server.stop()
  return out


class _InProcess:
  """What serving_load's runners need of a server, for one in-process."""

  def __init__(self, server):
    self.rest_port = server.rest_port
    self.grpc_port = server.grpc_port
    self.model = 'complaints'
    self._ps = psutil.Process()

  def cpu_seconds(self) -> float:
    times = self._ps.cpu_times()
    return times.user + times.system

  def ok_count(self) -> int:
    return serving_load.ServerProcess.ok_count(self)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.serving_threads',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--serving_dir', required=True)
  parser.add_argument('--seconds', type=int, default=5)
  parser.add_argument('--output', default=RESULTS)
  args = parser.parse_args(argv)
  serving_load.check_tools()
  from components import features  # pylint: disable=g-import-not-at-top
  workdir = tempfile.mkdtemp(prefix='serving_threads_')
  rows = serving_requests.real_rows()
  requests = serving_requests.batches(rows, 1)
  rest = os.path.join(workdir, 'rest.jsonl')
  with open(rest, 'wb') as f:
    f.writelines(serving_requests.rest_body(r) + b'\n' for r in requests)
  median = sorted(requests, key=lambda r: len(r[0][features.NARRATIVE]))[
      len(requests) // 2]
  grpc = os.path.join(workdir, 'grpc.bin')
  serving_load.write_grpc_message(grpc, serving_requests.grpc_request(
      median, 'complaints'))
  files = {'rest': rest, 'grpc': grpc}
  base = os.path.join(args.serving_dir, 'complaints')
  results = {'command': 'python -m benchmarks.serving_threads ' + ' '.join(
      sys.argv[1:] if argv is None else argv),
             'load': 'wrk -c32 (REST predict_raw) / h2load -c1 -m32 (gRPC '
                     'Predict), batching on, one complaint per request',
             'transports': {}}
  for transport in ('threads', 'event_loop'):
    results['transports'][transport] = measure(transport, base, args.seconds,
                                               workdir, files)
    time.sleep(1)
  result_file.write(args.output, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
