"""The protocol clients by name: what `--protocol rest|grpc` picks.

Apart from both clients so that the CLI, the A/B split and benchmarks choose
a protocol by name with one function, and neither client module imports
the other.
"""

from serving.client_grpc import GrpcClient
from serving.client_rest import RestClient
from serving.client_types import ClientError

PROTOCOLS = ('rest', 'grpc')


def make_client(protocol: str, **kwargs):
  """A RestClient or GrpcClient; kwargs are their constructor's."""
  if protocol == 'rest':
    return RestClient(**kwargs)
  if protocol == 'grpc':
    return GrpcClient(**kwargs)
  raise ClientError(f'Unknown protocol {protocol!r}: use rest or grpc.')
