"""A bounded hostile load on loopback (benchmarks/hostile_load.py).

For about 12 s: 4 keep-alive REST and 2 gRPC clients send valid requests
while 2 clients send malformed, oversized (body, JSON tensor, gRPC tensor)
and chunked-bypass requests, one opens batches of 8 slow connections, a new
model version is deployed and the config reloaded (a second model added or
removed) every 1.5 s. The server's bounds are small so they are reached.
"""

import pytest

from benchmarks import hostile_load


@pytest.fixture(scope='module')
def figures(tmp_path_factory):
  return hostile_load.run(seconds=12, swap_seconds=1.5,
                          workdir=str(tmp_path_factory.mktemp('hostile')))


def test_zero_failed_valid_requests(figures):
  assert figures['failed'] == 0, figures['failures']
  assert figures['counts']['valid_rest'] > 100
  assert figures['counts']['valid_grpc'] > 50


def test_every_bad_request_got_a_4xx_or_grpc_error(figures):
  counts = figures['counts']
  kinds = {key.split(':')[0] for key in counts if ':' in key}
  assert kinds == {'malformed', 'oversized_body', 'chunked_bypass',
                   'oversized_json', 'oversized_tensor_grpc'}, counts
  for key in counts:
    if ':' in key:
      code = key.split(':')[1]
      assert code == 'INVALID_ARGUMENT' or 400 <= int(code) < 500, key
  assert counts['slow_closed_by_server'] > 0


def test_versions_swapped_and_config_reloaded(figures):
  assert figures['counts']['version_swaps'] >= 3
  assert figures['counts']['config_reloads'] >= 3


def test_threads_and_memory_bounded_and_server_healthy(figures):
  threads = figures['threads']
  assert threads['peak'] <= threads['bound'], threads
  # Connections cost no thread: what is left is the REST and gRPC worker
  # pools (threads for the calls that block).
  assert threads['after_idle'] <= (threads['loaded'] +
                                   hostile_load.REST_THREADS +
                                   hostile_load.GRPC_THREADS + 2), threads
  rss = figures['rss_mb']
  assert rss['peak'] - rss['loaded'] < 400, rss
  assert figures['healthy_after']
