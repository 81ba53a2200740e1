"""A component that stops the run when ExampleValidator found anomalies.

TFX's ExampleValidator only records anomalies (and a per-split `blessed`
JSON property); it never stops a run. This gate raises, so nothing
downstream (Transform, Trainer, Pusher) runs on bad data.
"""

import os
from typing import Dict, List, Optional, Sequence

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import tfx_api

# Where TFX's ExampleValidator writes each split's Anomalies proto
# (tfx/components/example_validator/executor.py: DEFAULT_FILE_NAME in the
# artifact's `Split-<name>` folder).
ANOMALIES_FILE = 'SchemaDiff.pb'
SPLIT_PREFIX = 'Split-'


class DataAnomaliesError(RuntimeError):
  """Bad data: the message names each anomalous feature and why."""


class AnomaliesFileMissingError(RuntimeError):
  """ExampleValidator's output lacks a split's anomalies: not bad data, but
  no evidence of good data either, so the gate stops the run."""


def read_anomalies(anomalies_uri: str,
                   splits: Optional[Sequence[str]] = None
                   ) -> Dict[str, List[str]]:
  """Per split, 'feature: reason' lines for each anomaly found.

  Args:
    anomalies_uri: An ExampleAnomalies artifact's folder, as ExampleValidator
      writes it: `Split-<name>/SchemaDiff.pb` per validated split.
    splits: The splits that must have been validated (the artifact's
      split_names); None: every `Split-*` folder found.

  Raises:
    AnomaliesFileMissingError: No split folder at all, or a split without its
      anomalies file: nothing says that split's data is good.
  """
  if splits is None:
    splits = sorted(name[len(SPLIT_PREFIX):]
                    for name in os.listdir(anomalies_uri)
                    if name.startswith(SPLIT_PREFIX))
  if not splits:
    raise AnomaliesFileMissingError(
        f'no {SPLIT_PREFIX}<split>/{ANOMALIES_FILE} in {anomalies_uri}: '
        'ExampleValidator validated no split (or TFX writes its anomalies '
        'elsewhere now), so nothing says the data is good')
  found = {}
  for split in splits:
    path = os.path.join(anomalies_uri, SPLIT_PREFIX + split, ANOMALIES_FILE)
    if not os.path.exists(path):
      raise AnomaliesFileMissingError(
          f'the anomalies of split {split!r} are not at {path}: if TFX writes '
          'them elsewhere now, components/data_gate.py must read them there; '
          'without them nothing says that split\'s data is good')
    anomalies = anomalies_pb2.Anomalies()
    with open(path, 'rb') as f:
      anomalies.ParseFromString(f.read())
    lines = ['%s: %s' % (name, info.description or info.short_description)
             for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField('dataset_anomaly_info'):
      info = anomalies.dataset_anomaly_info
      lines.append('(dataset): %s' % (info.description or
                                      info.short_description))
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
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  # The splits ExampleValidator validated (None on an artifact without them:
  # then every Split-* folder).
  splits = artifact_utils.decode_split_names(anomalies.split_names) or None
  found = read_anomalies(anomalies.uri, splits)
  if found:
    raise DataAnomaliesError(
        'The data failed validation against the schema; nothing was '
        'trained or pushed. Anomalies:\n' + format_anomalies(found))
