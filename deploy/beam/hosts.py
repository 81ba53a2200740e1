"""Hosts on one machine: a network namespace each, joined by a bridge.

Each host is a Linux network namespace with its own loopback, one veth
interface on a private /24, its own host name (a UTS namespace per process)
and its own /etc/hosts (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts),
which is how the workers find the head by name, as DNS would on a cluster.
The root namespace joins the bridge as one more host (the one that submits
the pipeline). Processes in different hosts share the filesystem (the
pipeline root and data) but reach each other only over the network.

Needs root (CAP_NET_ADMIN) and iproute2's `ip`; every command that fails is
raised as a HostsError with the command and its message.
"""

import dataclasses
import os
import shutil
import subprocess
from typing import List, Sequence

from deploy.beam.settings import ClusterSettings

NETNS_ETC = '/etc/netns'
HEAD_INDEX = 1
SUBMITTER_INDEX = 254
FIRST_WORKER_INDEX = 11


class HostsError(RuntimeError):
  """A network command that failed, or a machine that cannot host them."""


@dataclasses.dataclass(frozen=True)
class Host:
  """One simulated host: its namespace, host name, address and interfaces."""
  name: str        # host name, also the namespace's name
  address: str
  outer_link: str  # the veth end on the bridge, in the root namespace

  @property
  def namespace(self) -> str:
    return self.name

  def command(self, argv: Sequence[str]) -> List[str]:
    """argv run inside this host: its network, its /etc/hosts, its name.

    `ip netns exec` and `unshare` both exec, so the process id of the
    returned command is the id of argv's process.
    """
    return ['ip', 'netns', 'exec', self.namespace, 'unshare', '--uts', 'sh',
            '-c', f'hostname {self.name} && exec "$@"', 'sh', *argv]


def head(settings: ClusterSettings) -> Host:
  return Host(f'{settings.prefix}-head', settings.address(HEAD_INDEX),
              f'{settings.prefix}-h')


def workers(settings: ClusterSettings) -> List[Host]:
  return [Host(f'{settings.prefix}-worker-{i}',
               settings.address(FIRST_WORKER_INDEX + i - 1),
               f'{settings.prefix}-w{i}')
          for i in range(1, settings.workers + 1)]


def bridge_name(settings: ClusterSettings) -> str:
  return f'{settings.prefix}-br'


def submitter_address(settings: ClusterSettings) -> str:
  """This (the root) namespace's address on the bridge."""
  return settings.address(SUBMITTER_INDEX)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
  try:
    done = subprocess.run(['ip', *args], capture_output=True, text=True,
                          timeout=30)
  except FileNotFoundError:
    raise HostsError("iproute2's `ip` is missing: apt-get install "
                     'iproute2') from None
  if check and done.returncode:
    why = (done.stderr or done.stdout).strip().splitlines()
    raise HostsError(f'`ip {" ".join(args)}` failed: '
                     f'{why[-1] if why else done.returncode}')
  return done


def existing_namespaces() -> List[str]:
  done = _ip('netns', 'list', check=False)
  return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _link_exists(name: str) -> bool:
  return _ip('link', 'show', name, check=False).returncode == 0


def leftovers(settings: ClusterSettings) -> List[str]:
  """Namespaces and links of this prefix that exist now."""
  mine = f'{settings.prefix}-'
  found = [ns for ns in existing_namespaces() if ns.startswith(mine)]
  if _link_exists(bridge_name(settings)):
    found.append(bridge_name(settings))
  return found


def _hosts_file(settings: ClusterSettings) -> str:
  lines = ['127.0.0.1 localhost', '::1 localhost']
  lines += [f'{host.address} {host.name}'
            for host in [head(settings), *workers(settings)]]
  return '\n'.join(lines) + '\n'


def create(settings: ClusterSettings) -> List[Host]:
  """The bridge, then the head and the workers on it; returns every host.

  Raises:
    HostsError: not root, names of this prefix already taken, or a command
      that failed (what was made before it is removed again).
  """
  if os.geteuid() != 0:
    raise HostsError('network namespaces need root (CAP_NET_ADMIN): run as '
                     'root, e.g. sudo make beam-workers')
  taken = leftovers(settings)
  if taken:
    raise HostsError(f'{", ".join(taken)} already exist: a cluster with '
                     f'prefix {settings.prefix!r} is up (python -m deploy.beam '
                     f'down --prefix {settings.prefix})')
  hosts = [head(settings), *workers(settings)]
  bridge = bridge_name(settings)
  try:
    _ip('link', 'add', bridge, 'type', 'bridge')
    _ip('addr', 'add', f'{submitter_address(settings)}/24', 'dev', bridge)
    _ip('link', 'set', bridge, 'up')
    for host in hosts:
      _ip('netns', 'add', host.namespace)
      folder = os.path.join(NETNS_ETC, host.namespace)
      os.makedirs(folder, exist_ok=True)
      with open(os.path.join(folder, 'hosts'), 'w', encoding='utf-8') as f:
        f.write(_hosts_file(settings))
      _ip('link', 'add', host.outer_link, 'type', 'veth', 'peer', 'name',
          'eth0', 'netns', host.namespace)
      _ip('link', 'set', host.outer_link, 'master', bridge, 'up')
      inside = ('-n', host.namespace)
      _ip(*inside, 'link', 'set', 'lo', 'up')
      _ip(*inside, 'addr', 'add', f'{host.address}/24', 'dev', 'eth0')
      _ip(*inside, 'link', 'set', 'eth0', 'up')
  except HostsError:
    delete(settings)
    raise
  return hosts


def delete(settings: ClusterSettings) -> List[str]:
  """Removes this prefix's namespaces, links and hosts files; returns them.

  Processes must be stopped first (cluster.down does): a namespace that
  still holds one lives on, unnamed, until it exits.
  """
  removed = []
  mine = f'{settings.prefix}-'
  for namespace in existing_namespaces():
    if namespace.startswith(mine):
      _ip('netns', 'del', namespace, check=False)  # its veth ends go with it
      shutil.rmtree(os.path.join(NETNS_ETC, namespace), ignore_errors=True)
      removed.append(namespace)
  if _link_exists(bridge_name(settings)):
    _ip('link', 'del', bridge_name(settings), check=False)
    removed.append(bridge_name(settings))
  return removed
