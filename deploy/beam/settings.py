"""The simulated cluster's names, addresses and ports, in one frozen dataclass.

Everything the other modules derive (namespace and interface names, host
addresses, the --beam-arg values) comes from these few fields, so two
clusters with different prefixes and subnets can exist side by side (the
test's and the one `make beam-workers` leaves up).
"""

import dataclasses
import ipaddress
import re

MAX_WORKERS = 16
# Linux interface names are at most 15 characters; the longest one made
# from the prefix is '<prefix>-w<N>' (see hosts.py).
_PREFIX = re.compile(r'[a-z][a-z0-9]{0,7}')


class SettingsError(ValueError):
  """Settings that cannot make a cluster (one line for the CLI, exit 2)."""


@dataclasses.dataclass(frozen=True)
class ClusterSettings:
  """One simulated cluster: a head host and `workers` worker hosts."""
  workers: int = 2
  # Names every namespace, interface and the state folder's default.
  prefix: str = 'beam'
  # A private /24 of its own: .254 is this (the submitting) host on the
  # bridge, .1 the head, .11, .12, ... the workers.
  subnet: str = '10.213.0.0/24'
  job_port: int = 8099          # Beam's usual job-service port, on the head
  dispatcher_port: int = 50000  # the one pool address the job service knows
  pool_port: int = 50000        # each worker host's pool (own address each)
  # SDK harnesses each pool starts per requested worker: 1 keeps one
  # harness process per host, like one Flink TaskManager slot.
  workers_per_pool: int = 1
  # Seconds a process may take to answer on its port before `up` fails.
  start_timeout: float = 60.0

  def __post_init__(self):
    if not 1 <= self.workers <= MAX_WORKERS:
      raise SettingsError(f'--workers must be from 1 to {MAX_WORKERS}, not '
                          f'{self.workers}')
    if not _PREFIX.fullmatch(self.prefix):
      raise SettingsError('--prefix must be a lower-case letter then up to 7 '
                          f'letters or digits, not {self.prefix!r}')
    try:
      network = ipaddress.ip_network(self.subnet)
    except ValueError as error:
      raise SettingsError(f'--subnet must be an IPv4 /24 such as '
                          f'10.213.0.0/24: {error}') from None
    if network.version != 4 or network.prefixlen != 24:
      raise SettingsError(f'--subnet must be an IPv4 /24, not {self.subnet}')
    if not network.is_private:
      raise SettingsError(f'--subnet must be a private range, not '
                          f'{self.subnet}')
    for name in ('job_port', 'dispatcher_port', 'pool_port'):
      if not 1 <= getattr(self, name) <= 65535:
        raise SettingsError(f'--{name.replace("_", "-")} must be from 1 to '
                            f'65535, not {getattr(self, name)}')
    if self.job_port == self.dispatcher_port:
      raise SettingsError('--job-port and --dispatcher-port share the head '
                          'host, so they must differ')
    if self.workers_per_pool < 1:
      raise SettingsError('--workers-per-pool must be at least 1')

  @property
  def network(self) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(self.subnet)

  def address(self, index: int) -> str:
    """The subnet's address number `index` (1 = head, 254 = this host)."""
    return str(self.network.network_address + index)

  @property
  def total_workers(self) -> int:
    """SDK harnesses the job service runs bundles on (--direct_num_workers)."""
    return self.workers * self.workers_per_pool
