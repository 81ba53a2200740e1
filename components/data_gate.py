"""A component that stops the run when ExampleValidator found anomalies.

TFX's ExampleValidator only records anomalies (and a per-split `blessed`
JSON property); it never stops a run. This gate raises, so nothing
downstream (Transform, Trainer, Pusher) runs on bad data.
"""

import os
from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import tfx_api

ANOMALIES_FILE = 'SchemaDiff.pb'


class DataAnomaliesError(RuntimeError):
  """Bad data: the message names each anomalous feature and why."""


def read_anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
  """Per split, 'feature: reason' lines for each anomaly found."""
  found = {}
  for split_dir in sorted(os.listdir(anomalies_uri)):
    split = split_dir.replace('Split-', '')
    path = os.path.join(anomalies_uri, split_dir, ANOMALIES_FILE)
    if not os.path.exists(path):
      continue
    anomalies = anomalies_pb2.Anomalies()
    with open(path, 'rb') as f:
      anomalies.ParseFromString(f.read())
    lines = ['%s: %s' % (name, info.description or info.short_description)
             for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField('dataset_anomaly_info'):
      lines.append('(dataset): %s' %
                   anomalies.dataset_anomaly_info.description)
    if lines:
      found[split] = lines
  return found


def format_anomalies(found: Dict[str, List[str]]) -> str:
  return '\n'.join('  [%s] %s' % (split, line)
                   for split, lines in found.items() for line in lines)


@tfx_api.component
def DataGate(  # pylint: disable=invalid-name
    anomalies: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.ExampleAnomalies]) -> None:
  """Raises DataAnomaliesError if any validated split has anomalies."""
  found = read_anomalies(anomalies.uri)
  if found:
    raise DataAnomaliesError(
        'The data failed validation against the schema; nothing was '
        'trained or pushed. Anomalies:\n' + format_anomalies(found))
