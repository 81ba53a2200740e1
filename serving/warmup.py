"""Replays TF Serving warmup requests before a version takes traffic.

The file is `<version>/assets.extra/tf_serving_warmup_requests`: a TFRecord
of `PredictionLog` protos (predict, classify, regress or multi_inference
logs), at most 1000 records, each replayed `num_request_iterations` times.
A failure fails the load, so a version that cannot answer its own warmup
requests never serves (the previous one keeps serving).

The first call of each signature pays for its graph (Grappler and kernel
set-up: 50-330 ms, then 1-5 ms), and a warmup file often covers only some
signatures (the pipeline's covers serving_default, not predict_raw); the
first batch of more than one row is slow again (measured: 50 ms after a
1-row warmup, 2 ms after a 2-row one). So, unless
--warmup_all_signatures=false, every signature is then run on a default
input (zeros / empty strings in its shapes) of 1 row and of 2 rows before
the version takes traffic. Those runs are ours, not the model's data: one
that fails is logged and does not fail the load.
"""

import logging
import os
import time
from typing import List

import serving  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import features
from serving import inference
from serving import status

WARMUP_FILE = features.WARMUP_FILE
MAX_RECORDS = 1000


def _replay(servable, log: prediction_log_pb2.PredictionLog) -> None:
  kind = log.WhichOneof('log_type')
  if kind == 'predict_log':
    inference.predict(servable, log.predict_log.request)
  elif kind == 'classify_log':
    inference.classify(servable, log.classify_log.request)
  elif kind == 'regress_log':
    inference.regress(servable, log.regress_log.request)
  elif kind == 'multi_inference_log':
    inference.multi_inference(servable, log.multi_inference_log.request)
  else:
    raise status.ServingError(
        status.UNIMPLEMENTED, f'Unsupported log_type for warmup: {kind}')


WARMUP_ROWS = (1, 2)


def warm_signatures(servable) -> List[str]:
  """Runs every signature on default inputs of WARMUP_ROWS rows.

  Returns the signatures whose runs all succeeded.
  """
  warmed = []
  for name, runner in sorted(servable.runners.items()):
    try:
      for rows in WARMUP_ROWS:
        servable.run(runner, runner.default_inputs(rows))
      warmed.append(name)
    except Exception as e:  # pylint: disable=broad-except
      logging.info('Warmup of signature %s of %s on a default input '
                      'failed (ignored): %s', name, servable.export_dir,
                      str(e).splitlines()[0] if str(e) else type(e).__name__)
  return warmed


def run_warmup(servable, num_request_iterations: int = 1,
               metrics=None, all_signatures: bool = False) -> int:
  """Replays the warmup file of `servable`; returns the records replayed.

  With `all_signatures`, every signature is then also run on default
  inputs (warm_signatures).
  """
  path = os.path.join(servable.export_dir, WARMUP_FILE)
  if not os.path.exists(path):
    logging.info('No warmup data file found at %s', path)
    if all_signatures:
      warm_signatures(servable)
    return 0
  start = time.monotonic()
  iterations = max(1, num_request_iterations)
  count = 0
  error = None
  try:
    for record in tf.data.TFRecordDataset(path):
      count += 1
      if count > MAX_RECORDS:
        raise status.invalid_argument(
            f'Number of warmup records exceeds the maximum ({MAX_RECORDS}) '
            f'at {path}')
      log = prediction_log_pb2.PredictionLog()
      try:
        log.ParseFromString(record.numpy())
      except Exception:  # pylint: disable=broad-except
        raise status.invalid_argument(
            f'Failed to parse warmup record from {path}') from None
      for _ in range(iterations):
        _replay(servable, log)
  except tf.errors.DataLossError as e:
    error = status.ServingError(
        status.DATA_LOSS, f'{e.message}. Please verify your warmup data is '
        'in TFRecord format.')
  except status.ServingError as e:
    error = e
  except tf.errors.OpError as e:
    error = status.from_tf_exception(e)
  if error is None and all_signatures:
    warm_signatures(servable)
  if metrics is not None:
    metrics.warmup_latency.add(
        servable.export_dir, 'OK' if error is None else error.to_string(),
        value=(time.monotonic() - start) * 1e6)
  if error is not None:
    raise error
  logging.info('Finished reading warmup data for model at %s. Number of '
               'warmup records read: %d.', path, count)
  return count
