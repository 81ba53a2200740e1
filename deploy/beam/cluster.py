"""Brings a simulated Beam cluster up on its hosts and down again.

Up: the hosts (hosts.py), then on the head the job service (job_server.py)
and the dispatcher (dispatcher.py), and on each worker host one SDK worker
pool (`apache_beam.runners.worker.worker_pool_main`, Beam's own). Each
process answers on its port before `up` returns, and each worker host
proves it reaches the head's job service by name over its veth. The state
(settings, process ids, logs) is a JSON file in the state folder, which
`down` reads to stop exactly those processes (their process groups) and
remove exactly those namespaces.

The processes run this machine's Python and project checkout: the hosts
share the filesystem, so the pipeline root, the data and the code are where
the workers look for them. A real cluster needs the same: a shared
filesystem or object storage (gs://, s3://) for the pipeline root and data,
and the project installed in every worker's image.
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

from deploy.beam import hosts as hosts_lib
from deploy.beam.settings import ClusterSettings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STATE_FILE = 'cluster.json'


class ClusterError(RuntimeError):
  """A cluster that could not come up, or state that is not a cluster's."""


def default_state_dir(prefix: str) -> str:
  return os.path.join('/tmp', f'beam-cluster-{prefix}')


@dataclasses.dataclass
class Cluster:
  """A cluster that is up: its settings, processes and where they log."""
  settings: ClusterSettings
  state_dir: str
  processes: Dict[str, int] = dataclasses.field(default_factory=dict)
  logs: Dict[str, str] = dataclasses.field(default_factory=dict)

  @property
  def head(self) -> hosts_lib.Host:
    return hosts_lib.head(self.settings)

  @property
  def workers(self) -> List[hosts_lib.Host]:
    return hosts_lib.workers(self.settings)

  def beam_args(self) -> List[str]:
    """The `python -m pipeline run --beam-arg` values for this cluster."""
    head = self.head.address
    return ['--runner=PortableRunner',
            f'--job_endpoint={head}:{self.settings.job_port}',
            '--environment_type=EXTERNAL',
            f'--environment_config={head}:{self.settings.dispatcher_port}',
            f'--direct_num_workers={self.settings.total_workers}']

  def pipeline_flags(self) -> List[str]:
    return [f'--beam-arg={arg}' for arg in self.beam_args()]

  def link_bytes(self) -> Dict[str, Dict[str, int]]:
    """Bytes each host's interface received and sent so far."""
    found = {}
    for host in [self.head, *self.workers]:
      done = subprocess.run(
          ['ip', '-n', host.namespace, '-s', '-j', 'link', 'show', 'eth0'],
          capture_output=True, text=True, timeout=30, check=False)
      if done.returncode:
        continue
      stats = json.loads(done.stdout)[0]['stats64']
      found[host.name] = {'rx_bytes': stats['rx']['bytes'],
                          'tx_bytes': stats['tx']['bytes']}
    return found

  def to_json(self) -> Dict:
    return {'settings': dataclasses.asdict(self.settings),
            'state_dir': self.state_dir, 'processes': self.processes,
            'logs': self.logs, 'beam_args': self.beam_args(),
            'hosts': {h.name: h.address for h in [self.head, *self.workers]}}


def _environment() -> Dict[str, str]:
  """What every process on the hosts runs with: this venv and checkout.

  worker_pool_main starts each SDK harness as `python -c ...`, so this
  venv's bin comes first on the PATH.
  """
  env = dict(os.environ)
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get(
      'PATH', '/usr/bin:/bin')
  env['PYTHONPATH'] = REPO_ROOT + (
      os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
  env['TF_USE_LEGACY_KERAS'] = '1'  # what components/__init__ sets
  env['PYTHONUNBUFFERED'] = '1'
  return env


def _start(cluster: Cluster, name: str, host: hosts_lib.Host,
           argv: List[str]) -> None:
  log = os.path.join(cluster.state_dir, f'{name}.log')
  with open(log, 'ab') as out:
    process = subprocess.Popen(
        host.command([sys.executable, *argv]), cwd=REPO_ROOT,
        env=_environment(), stdin=subprocess.DEVNULL, stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True)
  cluster.processes[name] = process.pid
  cluster.logs[name] = log


def is_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  try:  # a zombie child of ours counts as dead
    done, _ = os.waitpid(pid, os.WNOHANG)
    return done == 0
  except ChildProcessError:
    return True


def _last_line(path: str) -> str:
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return ''
  return lines[-1] if lines else ''


def _wait_listening(cluster: Cluster, name: str, address: str,
                    port: int) -> None:
  """Waits until address:port accepts a connection from this host."""
  deadline = time.monotonic() + cluster.settings.start_timeout
  while True:
    try:
      socket.create_connection((address, port), timeout=2).close()
      return
    except OSError:
      pass
    if not is_alive(cluster.processes[name]):
      raise ClusterError(f'{name} exited before listening on {address}:{port}:'
                         f' {_last_line(cluster.logs[name])} (log: '
                         f'{cluster.logs[name]})')
    if time.monotonic() > deadline:
      raise ClusterError(f'{name} did not listen on {address}:{port} within '
                         f'{cluster.settings.start_timeout:.0f} s (log: '
                         f'{cluster.logs[name]})')
    time.sleep(0.3)


def _check_reaches_head(cluster: Cluster, host: hosts_lib.Host) -> None:
  """The worker host connects to the job service by the head's name."""
  target = f'/dev/tcp/{cluster.head.name}/{cluster.settings.job_port}'
  done = subprocess.run(
      host.command(['bash', '-c', f'exec 3<>{target}']),
      capture_output=True, text=True, timeout=30, check=False)
  if done.returncode:
    raise ClusterError(f'{host.name} cannot reach {cluster.head.name}:'
                       f'{cluster.settings.job_port} over the bridge: '
                       f'{(done.stderr or "").strip()}')


def up(settings: ClusterSettings, state_dir: Optional[str] = None) -> Cluster:
  """Hosts and processes; everything made is removed again on failure.

  Raises:
    hosts_lib.HostsError, ClusterError: in one line.
  """
  state_dir = os.path.abspath(state_dir or default_state_dir(settings.prefix))
  if os.path.exists(os.path.join(state_dir, STATE_FILE)):
    raise ClusterError(f'{state_dir} already holds a cluster: python -m '
                       f'deploy.beam down --state-dir {state_dir}')
  os.makedirs(state_dir, exist_ok=True)
  hosts_lib.create(settings)
  cluster = Cluster(settings, state_dir)
  try:
    head = cluster.head
    pools = [f'{w.address}:{settings.pool_port}' for w in cluster.workers]
    _start(cluster, 'job-server', head, [
        '-m', 'deploy.beam.job_server', '--address', head.address,
        '--port', str(settings.job_port),
        '--staging-dir', os.path.join(state_dir, 'staging')])
    _start(cluster, 'dispatcher', head, [
        '-m', 'deploy.beam.dispatcher', '--address', head.address,
        '--port', str(settings.dispatcher_port),
        *[f'--pool={pool}' for pool in pools]])
    for worker in cluster.workers:
      _start(cluster, worker.name, worker, [
          '-m', 'apache_beam.runners.worker.worker_pool_main',
          f'--service_port={settings.pool_port}'])
    _save(cluster)
    _wait_listening(cluster, 'job-server', head.address, settings.job_port)
    _wait_listening(cluster, 'dispatcher', head.address,
                    settings.dispatcher_port)
    for worker in cluster.workers:
      _wait_listening(cluster, worker.name, worker.address, settings.pool_port)
      _check_reaches_head(cluster, worker)
  except BaseException:
    down(state_dir)
    raise
  return cluster


def _save(cluster: Cluster) -> None:
  path = os.path.join(cluster.state_dir, STATE_FILE)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(cluster.to_json(), f, indent=2)
  os.replace(path + '.tmp', path)


def load(state_dir: str) -> Cluster:
  """The cluster recorded in state_dir.

  Raises:
    ClusterError: no cluster there, or a file that is not a cluster's state.
  """
  path = os.path.join(os.path.abspath(state_dir), STATE_FILE)
  try:
    with open(path, encoding='utf-8') as f:
      state = json.load(f)
    return Cluster(ClusterSettings(**state['settings']), state['state_dir'],
                   {k: int(v) for k, v in state['processes'].items()},
                   dict(state['logs']))
  except FileNotFoundError:
    raise ClusterError(f'no cluster is up with state in {state_dir} (python '
                       '-m deploy.beam up)') from None
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise ClusterError(f'{path} is not a cluster state file: {error}') from None


def _group_alive(pid: int) -> bool:
  try:
    os.killpg(pid, 0)
    return True
  except ProcessLookupError:
    return False


def _stop(pid: int, grace: float = 10.0) -> None:
  """SIGTERM to the process's group (a pool and its harnesses), then KILL.

  Each process was started in its own session, so its group id is its pid
  and holds only it and what it started.
  """
  try:
    os.killpg(pid, signal.SIGTERM)
  except ProcessLookupError:
    return
  deadline = time.monotonic() + grace
  while _group_alive(pid) and time.monotonic() < deadline:
    is_alive(pid)  # reaps the leader when it is our child
    time.sleep(0.2)
  if _group_alive(pid):
    try:
      os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  is_alive(pid)


def down(state_dir: str, settings: Optional[ClusterSettings] = None) -> List[str]:
  """Stops the recorded processes and removes the hosts; returns what went.

  With no state file, settings (the prefix) say which hosts to remove.
  """
  removed = []
  try:
    cluster = load(state_dir)
    settings = cluster.settings
    for name, pid in cluster.processes.items():
      _stop(pid)
      removed.append(f'{name} (pid {pid})')
  except ClusterError:
    if settings is None:
      raise
  removed += hosts_lib.delete(settings)
  try:
    os.remove(os.path.join(os.path.abspath(state_dir), STATE_FILE))
  except FileNotFoundError:
    pass
  return removed
