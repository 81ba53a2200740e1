"""PredictionLogs written by the client, for servers that write none.

The real TF Serving has no log collector, so a deployment on it gets no
request log. `--request_log_prefix` makes the bulk client write the same
files this project's server writes with a `logging_config` (TFRecord of
PredictionLog, names beginning with the prefix, log_metadata with model
name, version and signature), through the server's own TFRecordCollector,
so monitoring and feedback read either kind alike.
"""

import os
import time
from typing import List, Optional


class ClientRequestLog:
  """PredictionLogs of what the client sent and got, as the server writes.

  For a deployment on the real TF Serving, which has no log collector: the
  same files (TFRecord of PredictionLog, names beginning with the prefix,
  log_metadata with model name, version and signature), written by the
  client instead of the server. Nothing is dropped (the writer blocks).
  """

  def __init__(self, prefix: str, max_file_bytes: Optional[int] = None):
    from serving import request_logger  # pylint: disable=g-import-not-at-top
    self._lib = request_logger
    self.collector = request_logger.TFRecordCollector(
        os.path.abspath(prefix),
        max_file_bytes=max_file_bytes or request_logger.DEFAULT_MAX_FILE_BYTES,
        block=True)

  def log(self, request, response) -> None:
    from tensorflow_serving.apis import logging_pb2  # pylint: disable=g-import-not-at-top
    metadata = logging_pb2.LogMetadata()
    metadata.model_spec.name = response.model_spec.name
    metadata.model_spec.version.value = response.model_spec.version.value
    metadata.model_spec.signature_name = response.model_spec.signature_name
    metadata.sampling_config.sampling_rate = 1.0
    metadata.timestamp_secs = int(time.time())
    self.collector.collect(
        metadata.model_spec.name,
        lambda: self._lib.build_log('predict', request, response, metadata))

  def close(self) -> List[str]:
    self.collector.close(timeout=60)
    return list(self.collector.files)
