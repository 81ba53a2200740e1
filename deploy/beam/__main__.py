"""`python -m deploy.beam up|down|status|args`: the simulated Beam cluster.

  up      hosts (network namespaces), the job service and dispatcher on the
          head, one SDK worker pool per worker host; prints the --beam-arg
          flags for `python -m pipeline run`
  down    stops those processes and removes the hosts
  status  the hosts, processes and bytes each host's interface carried
  args    the --beam-arg flags of the cluster that is up (one per line)

Bad input and a machine that cannot host the cluster get one line on stderr
and exit 2.
"""

import argparse
import json
import sys

from deploy.beam import cluster as cluster_lib
from deploy.beam import hosts as hosts_lib
from deploy.beam import settings as settings_lib

EXAMPLES = """examples:
  python -m deploy.beam up --workers 2
  python -m pipeline run --output /tmp/portable $(python -m deploy.beam args)
  python -m deploy.beam status
  python -m deploy.beam down
"""


def build_parser() -> argparse.ArgumentParser:
  defaults = settings_lib.ClusterSettings()
  parser = argparse.ArgumentParser(
      prog='python -m deploy.beam', epilog=EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      description='Beam SDK worker pools on hosts simulated as network '
      'namespaces, for the portable runner.')
  parser.add_argument('command', choices=('up', 'down', 'status', 'args'))
  parser.add_argument('--workers', type=int, default=defaults.workers,
                      help='worker hosts, one pool each (default: '
                      '%(default)s)')
  parser.add_argument('--prefix', default=defaults.prefix,
                      help='names the namespaces and links (default: '
                      '%(default)s)')
  parser.add_argument('--subnet', default=defaults.subnet,
                      help='private /24 of the hosts (default: %(default)s)')
  parser.add_argument('--job-port', type=int, default=defaults.job_port)
  parser.add_argument('--dispatcher-port', type=int,
                      default=defaults.dispatcher_port)
  parser.add_argument('--pool-port', type=int, default=defaults.pool_port)
  parser.add_argument('--state-dir', default=None,
                      help='where the state file and logs go (default: '
                      '/tmp/beam-cluster-<prefix>)')
  parser.add_argument('--json', action='store_true',
                      help='up/status: the cluster as JSON')
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  state_dir = args.state_dir or cluster_lib.default_state_dir(args.prefix)
  try:
    settings = settings_lib.ClusterSettings(
        workers=args.workers, prefix=args.prefix, subnet=args.subnet,
        job_port=args.job_port, dispatcher_port=args.dispatcher_port,
        pool_port=args.pool_port)
    if args.command == 'up':
      cluster = cluster_lib.up(settings, state_dir)
      if args.json:
        print(json.dumps(cluster.to_json(), indent=2))
      else:
        for host in [cluster.head, *cluster.workers]:
          print(f'{host.name} {host.address}', file=sys.stderr)
        print(f'state and logs: {cluster.state_dir}', file=sys.stderr)
        print(' '.join(cluster.pipeline_flags()))
    elif args.command == 'down':
      for item in cluster_lib.down(state_dir, settings):
        print(f'removed {item}', file=sys.stderr)
    elif args.command == 'args':
      print('\n'.join(cluster_lib.load(state_dir).pipeline_flags()))
    else:
      cluster = cluster_lib.load(state_dir)
      state = cluster.to_json()
      state['alive'] = {name: cluster_lib.is_alive(pid)
                        for name, pid in cluster.processes.items()}
      state['link_bytes'] = cluster.link_bytes()
      if args.json:
        print(json.dumps(state, indent=2))
      else:
        for name, address in state['hosts'].items():
          traffic = state['link_bytes'].get(name, {})
          print(f'{name:20} {address:15} rx {traffic.get("rx_bytes", 0):>12,}'
                f' B  tx {traffic.get("tx_bytes", 0):>12,} B')
        for name, pid in cluster.processes.items():
          print(f'{name:20} pid {pid:<8} '
                f'{"up" if state["alive"][name] else "DOWN"}  '
                f'{cluster.logs[name]}')
  except (settings_lib.SettingsError, hosts_lib.HostsError,
          cluster_lib.ClusterError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
