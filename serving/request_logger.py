"""Request logging, TF Serving's way: sampled requests as PredictionLog.

A model's `logging_config` in the ModelServerConfig (TF Serving's
`LoggingConfig`: `log_collector_config { type, filename_prefix }` and
`sampling_config { sampling_rate }`) makes the server record each sampled
successful Predict, Classify, Regress and MultiInference, over REST and gRPC
alike, as a `tensorflow.serving.PredictionLog`: the request, the response
and `log_metadata` (model name, version and signature, the sampling config,
the SavedModel tags, the time). The structure is TF Serving's
(core/server_request_logger.cc, request_logger.cc, log_collector.cc):

* `ServerRequestLogger` maps model names to their `RequestLogger`s; one
  logger per distinct LoggingConfig, kept across config reloads;
* a `RequestLogger` samples (uniformly, at `sampling_rate`) and hands the
  log to its `LogCollector`;
* collectors are created from a registry keyed by `log_collector_config.type`
  (`register_collector`); an unknown type is TF Serving's NOT_FOUND
  `Cannot find LogCollector::Factory for type: ...`, which rejects the
  config whole.

Stock `tensorflow_model_server` registers no collector at all (it refuses
any logging_config: "No request-logger-creator provided."). This server
registers `tfrecord`: `TFRecordCollector` writes the serialized
PredictionLogs to TFRecord files whose names begin with `filename_prefix`,
readable by `tf.data.TFRecordDataset`. Logging never slows or fails a
request: the request thread only samples and puts a closure on a bounded
queue (a full queue drops the record and counts it); building, serializing
and writing the log happen on one background thread per collector, which
flushes whenever its queue is empty (and every FLUSH_EVERY_RECORDS records
under load) and starts a new file once the current one reaches
--request_log_max_file_bytes. A full or failing disk costs no file and at
most one line a minute: the collector drops (and counts) records through a
back-off, then tries again (--request_log_write_retry_ms); a retention
bound per collector (--request_log_max_total_bytes,
--request_log_max_age_seconds) deletes the oldest files
(request_log_disk.py).
"""

import datetime
import errno
import itertools
import logging
import os
import queue
import random
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from tensorflow_serving.apis import logging_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving import request_log_disk
from serving import status

TFRECORD = 'tfrecord'
FILE_SUFFIX = '.tfrecord'
# Records written between two flushes while the queue stays non-empty.
FLUSH_EVERY_RECORDS = 16
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_QUEUE_SIZE = 1024
# The server's retention bound per collector (--request_log_max_total_bytes).
DEFAULT_MAX_TOTAL_BYTES = 10 * 1024 * 1024 * 1024
# Back-off after a failed write: the first delay, doubling up to the cap.
DEFAULT_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
# At most one line about a collector's disk trouble per this many seconds.
ERROR_LOG_INTERVAL_SECONDS = 60.0
# How often an idle writer applies an age bound.
RETENTION_CHECK_SECONDS = 60.0
# TFRecord framing per record: length (8), its CRC (4), data CRC (4).
_RECORD_OVERHEAD = 16

KINDS = {
    'predict': 'predict_log',
    'classify': 'classify_log',
    'regress': 'regress_log',
    'multi_inference': 'multi_inference_log',
}

# A log entry on a collector's queue: (model name, builder of the record).
Entry = Tuple[str, Callable[[], bytes]]


class LogCollector:
  """Where a RequestLogger's records go (TF Serving's LogCollector)."""

  def collect(self, model_name: str, build: Callable[[], bytes]) -> bool:
    """Takes a record without blocking; False if it was dropped."""
    raise NotImplementedError

  def flush(self, timeout: float = 10.0) -> bool:
    return True

  def close(self) -> None:
    pass


# type -> factory(LogCollectorConfig, collector id, options, metrics).
_FACTORIES: Dict[str, Callable] = {}
_FACTORIES_LOCK = threading.Lock()
_IDS = itertools.count()


def register_collector(type_name: str, factory: Callable) -> None:
  """Registers a collector factory under a `log_collector_config.type`."""
  with _FACTORIES_LOCK:
    if type_name in _FACTORIES:
      raise status.ServingError(
          'ALREADY_EXISTS', f'Type {type_name} already registered.')
    _FACTORIES[type_name] = factory


def create_collector(config, options=None, metrics=None) -> LogCollector:
  """LogCollector::Create: the factory registered for `config.type`."""
  with _FACTORIES_LOCK:
    factory = _FACTORIES.get(config.type)
  if factory is None:
    raise status.not_found(
        f'Cannot find LogCollector::Factory for type: {config.type}')
  return factory(config, next(_IDS), options, metrics)


def log_file_name(prefix: str, collector_id: int, sequence: int,
                  now: Optional[float] = None) -> str:
  """`<prefix>-<UTC time>-<pid>-<collector>-<sequence>.tfrecord`.

  Names sort in the order the files were started (per process). A prefix
  ending in '/' is a directory: the name is then `<dir>/<UTC time>-...`.
  """
  stamp = datetime.datetime.fromtimestamp(
      time.time() if now is None else now, datetime.timezone.utc).strftime(
          '%Y%m%dT%H%M%S.%fZ')
  joiner = '' if prefix.endswith(('/', os.sep)) else '-'
  return (f'{prefix}{joiner}{stamp}-{os.getpid()}-{collector_id}-'
          f'{sequence:05d}{FILE_SUFFIX}')


class TFRecordCollector(LogCollector):
  """Writes records to rotated TFRecord files on a background thread.

  A record counts as written once a flush (or the file's close) has
  succeeded. A failed write, flush or close (a full or failing disk) drops
  the records not yet flushed, cuts the file back to its last flushed byte
  (an empty one is deleted), so every file stays a readable TFRecord, and
  starts a back-off: until it runs out, records are dropped without
  touching the disk; then the next record tries again, creating a new file
  only if the filesystem has room for it. Drops count as `write_error`, and
  the trouble is reported in at most one line per `error_log_interval`.
  After each closed file, at start, and every `retention_check_seconds`
  when an age bound is set, the oldest files of the prefix are deleted to keep
  within `max_total_bytes` and `max_age_seconds`.

  Args:
    prefix: every file name begins with it (directories are created).
    collector_id: distinguishes collectors of one process in file names.
    max_file_bytes: a file is closed once it holds at least this much, and
      the next record starts a new one.
    queue_size: records waiting for the writer; more are dropped.
    metrics: prometheus.Metrics (written / dropped counters), or None.
    block: wait for room in a full queue instead of dropping (a batch
      client that must log everything it sends; never in the server).
    max_total_bytes: 0 = no bound; else the prefix's files (the open one
      included) are kept within it, oldest deleted first.
    max_age_seconds: 0 = no bound; else files last written longer ago are
      deleted.
    retry_seconds: the first back-off after a failed write; it doubles with
      each failure in a row, up to MAX_RETRY_SECONDS.
    error_log_interval: at most one line per this many seconds about disk
      trouble goes to the server's log.
    clock: monotonic seconds, for the back-off and the line interval.
    retention_check_seconds: with an age bound, how often the writer
      applies it while records keep coming or none do.
  """

  def __init__(self, prefix: str, collector_id: int = 0,
               max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
               queue_size: int = DEFAULT_QUEUE_SIZE, metrics=None,
               block: bool = False, max_total_bytes: int = 0,
               max_age_seconds: float = 0,
               retry_seconds: float = DEFAULT_RETRY_SECONDS,
               error_log_interval: float = ERROR_LOG_INTERVAL_SECONDS,
               clock: Callable[[], float] = time.monotonic,
               retention_check_seconds: float = RETENTION_CHECK_SECONDS):
    self.prefix = prefix
    self.block = block
    self.collector_id = collector_id
    self.max_file_bytes = max(1, max_file_bytes)
    self.max_total_bytes = max_total_bytes
    self.max_age_seconds = max_age_seconds
    self._retention_check_seconds = retention_check_seconds
    self.metrics = metrics
    self.files: List[str] = []
    self.written = 0
    self.dropped = 0
    self.deleted_files = 0
    self._queue: 'queue.Queue[Optional[Entry]]' = queue.Queue(
        maxsize=max(1, queue_size))
    self._lock = threading.Lock()
    self._writer = None
    self._path: Optional[str] = None
    self._file_bytes = 0
    self._flushed_bytes = 0
    self._sequence = 0
    # Model names of the records written since the last successful flush.
    self._unconfirmed: List[str] = []
    self._backoff = request_log_disk.Backoff(
        retry_seconds, MAX_RETRY_SECONDS, clock)
    self._trouble_lines = request_log_disk.OncePer(error_log_interval, clock)
    self._dropped_unreported = 0
    self._closed = False
    # Test hook: cleared, the writer holds the record it took (a slow disk).
    self.resume = threading.Event()
    self.resume.set()
    self._idle = threading.Condition()
    self._pending = 0
    self._thread = threading.Thread(
        target=self._run, daemon=True,
        name=f'request_log_writer_{collector_id}')
    self._thread.start()

  # ---- request side --------------------------------------------------------

  def collect(self, model_name: str, build: Callable[[], bytes]) -> bool:
    if self._closed:
      return self._drop(model_name, 'closed')
    with self._idle:
      self._pending += 1
    try:
      self._queue.put((model_name, build), block=self.block)
    except queue.Full:
      self._done()
      return self._drop(model_name, 'queue_full')
    return True

  def _drop(self, model_name: str, reason: str) -> bool:
    with self._lock:
      self.dropped += 1
      if reason == 'write_error':
        self._dropped_unreported += 1
    if self.metrics is not None:
      self.metrics.request_log_dropped.increment(model_name, reason)
    return False

  def _done(self) -> None:
    with self._idle:
      self._pending -= 1
      if self._pending == 0:
        self._idle.notify_all()

  # ---- writer thread -------------------------------------------------------

  def _run(self) -> None:
    self._apply_retention()
    every = (self._retention_check_seconds if self.max_age_seconds > 0
             else None)
    retained_at = time.monotonic()
    while True:
      if every is not None and time.monotonic() - retained_at >= every:
        self._apply_retention()
        retained_at = time.monotonic()
      try:
        entry = self._queue.get(timeout=every)
      except queue.Empty:
        continue
      if entry is None:
        break
      self.resume.wait()
      self._take(*entry)
      if self._queue.empty() or len(self._unconfirmed) >= FLUSH_EVERY_RECORDS:
        self._guarded(self._flush_file)
      self._done()
    self._guarded(self._close_file)

  def _take(self, model_name: str, build: Callable[[], bytes]) -> None:
    if self._backoff.waiting:  # The disk failed lately: leave it alone.
      self._drop(model_name, 'write_error')
      return
    try:
      record = build()
    except Exception as e:  # pylint: disable=broad-except
      self._drop(model_name, 'write_error')
      self._report(logging.ERROR, 'a record could not be built (%s)', e)
      return
    self._unconfirmed.append(model_name)
    self._guarded(lambda: self._write(record))

  def _guarded(self, disk_operation: Callable[[], None]) -> None:
    try:
      disk_operation()
    except Exception as e:  # pylint: disable=broad-except
      self._disk_failed(e)

  def _open(self, first_record_bytes: int):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    directory = os.path.dirname(self.prefix)
    if not request_log_disk.has_room(directory or '.', first_record_bytes):
      raise OSError(errno.ENOSPC, 'No space left on device for a new log '
                    'file (free space checked before creating one)')
    if directory:
      os.makedirs(directory, exist_ok=True)
    path = log_file_name(self.prefix, self.collector_id, self._sequence)
    self._sequence += 1
    self._writer = tf.io.TFRecordWriter(path)
    self._path = path
    self._file_bytes = self._flushed_bytes = 0
    with self._lock:
      self.files.append(path)
    return self._writer

  def _write(self, record: bytes) -> None:
    size = len(record) + _RECORD_OVERHEAD
    writer = self._writer or self._open(size)
    writer.write(record)
    self._file_bytes += size
    if self._file_bytes >= self.max_file_bytes:
      self._close_file()

  def _flush_file(self) -> None:
    if self._writer is not None and self._unconfirmed:
      self._writer.flush()
      self._flushed_bytes = self._file_bytes
      self._confirm()

  def _close_file(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None
      self._flushed_bytes = self._file_bytes
      self._path = None
      self._confirm()
      self._apply_retention()

  def _confirm(self) -> None:
    """The records since the last flush are on disk: count them written."""
    confirmed, self._unconfirmed = self._unconfirmed, []
    with self._lock:
      self.written += len(confirmed)
    if self.metrics is not None:
      for model_name in confirmed:
        self.metrics.request_log_written.increment(model_name)
    if confirmed and self._backoff.failing:
      self._backoff.succeeded()
      self._report(logging.WARNING, 'writing again')

  def _disk_failed(self, error: Exception) -> None:
    """Drops what is not flushed, cuts the file back, backs off."""
    writer, self._writer = self._writer, None
    if writer is not None:
      try:
        writer.close()
      except Exception:  # pylint: disable=broad-except
        pass  # The file is cut back to its flushed bytes below anyway.
    if self._path is not None:
      self._cut_back(self._path, self._flushed_bytes)
      self._path = None
    lost, self._unconfirmed = self._unconfirmed, []
    for model_name in lost:
      self._drop(model_name, 'write_error')
    delay = self._backoff.failed()
    self._report(logging.ERROR, 'writing failed (%s); no new file until the '
                 'disk is tried again in %.3g s', error, delay)

  def _cut_back(self, path: str, good_bytes: int) -> None:
    """Leaves `path` a readable TFRecord: its flushed records, or nothing."""
    try:
      if good_bytes:
        os.truncate(path, good_bytes)
      else:
        os.remove(path)
        with self._lock:
          self.files.remove(path)
    except OSError:
      pass  # A record cut off at the end is what a crash leaves, too.

  def _report(self, level: int, message: str, *args) -> None:
    """One line about disk trouble, unless one went out lately."""
    silenced = self._trouble_lines.allow()
    if silenced is None:
      return
    with self._lock:
      dropped, self._dropped_unreported = self._dropped_unreported, 0
    logging.log(level, 'Request log %s: ' + message + '; %d record(s) '
                'dropped since the last such line (request_log_dropped_count'
                ' reason="write_error"; at most one such line per %g s)',
                self.prefix, *args, dropped, self._trouble_lines.interval)

  def _apply_retention(self) -> None:
    """Deletes the prefix's oldest files beyond the bytes and age bounds."""
    if not (self.max_total_bytes > 0 or self.max_age_seconds > 0):
      return
    closed = [f for f in request_log_disk.collector_files(
        self.prefix, FILE_SUFFIX) if f.path != self._path]
    for f in request_log_disk.enforce_retention(
        closed, self.max_total_bytes, self.max_age_seconds, time.time(),
        reserved_bytes=self.max_file_bytes):
      try:
        os.remove(f.path)
      except FileNotFoundError:
        continue
      except OSError as e:
        self._report(logging.ERROR, 'deleting %s (retention) failed (%s)',
                     f.path, e)
        continue
      with self._lock:
        self.deleted_files += 1

  # ---- lifecycle -----------------------------------------------------------

  def flush(self, timeout: float = 10.0) -> bool:
    """Waits until every accepted record is written and flushed."""
    deadline = time.monotonic() + timeout
    with self._idle:
      while self._pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
          return False
        self._idle.wait(remaining)
    return True

  def close(self, timeout: float = 10.0) -> None:
    """Writes what is queued, closes the file and stops the thread."""
    if self._closed:
      return
    self._closed = True
    self.resume.set()
    self.flush(timeout)
    self._queue.put(None)
    self._thread.join(timeout)


def _tfrecord_factory(config, collector_id, options, metrics):
  if not config.filename_prefix:
    raise status.invalid_argument(
        'log_collector_config of type tfrecord needs a filename_prefix')
  if not os.path.isabs(config.filename_prefix):
    raise status.invalid_argument(
        'log_collector_config filename_prefix must be absolute (as '
        f'base_path): {config.filename_prefix!r}')
  return TFRecordCollector(
      config.filename_prefix, collector_id,
      getattr(options, 'request_log_max_file_bytes', DEFAULT_MAX_FILE_BYTES),
      getattr(options, 'request_log_queue_size', DEFAULT_QUEUE_SIZE),
      metrics,
      max_total_bytes=getattr(options, 'request_log_max_total_bytes',
                              DEFAULT_MAX_TOTAL_BYTES),
      max_age_seconds=getattr(options, 'request_log_max_age_seconds', 0),
      retry_seconds=getattr(options, 'request_log_write_retry_ms',
                            DEFAULT_RETRY_SECONDS * 1000) / 1000)


register_collector(TFRECORD, _tfrecord_factory)


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited protobuf field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


_LOG_FIELDS = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name
_METADATA_FIELD = _LOG_FIELDS['log_metadata'].number
_KIND_FIELDS = {kind: _LOG_FIELDS[field].number
                for kind, field in KINDS.items()}
_REQUEST_FIELD = prediction_log_pb2.PredictLog.DESCRIPTOR.fields_by_name[
    'request'].number
_RESPONSE_FIELD = prediction_log_pb2.PredictLog.DESCRIPTOR.fields_by_name[
    'response'].number
for _message in (prediction_log_pb2.ClassifyLog, prediction_log_pb2.RegressLog,
                 prediction_log_pb2.MultiInferenceLog):
  assert (_message.DESCRIPTOR.fields_by_name['request'].number,
          _message.DESCRIPTOR.fields_by_name['response'].number) == (
              _REQUEST_FIELD, _RESPONSE_FIELD)


def build_log(kind: str, request, response, metadata) -> bytes:
  """A serialized PredictionLog of `kind` (a KINDS key).

  Assembled from the serialized parts (the wire format of a message field
  is its tag, length and bytes), which saves copying the request and the
  response into a new message; it parses as the PredictionLog with those
  fields set.
  """
  request = request() if callable(request) else request
  response = response() if callable(response) else response
  entry = (_field(_REQUEST_FIELD, request.SerializeToString()) +
           _field(_RESPONSE_FIELD, response.SerializeToString()))
  return (_field(_METADATA_FIELD, metadata.SerializeToString()) +
          _field(_KIND_FIELDS[kind], entry))


class RequestLogger:
  """One LoggingConfig: samples, then hands the record to its collector."""

  def __init__(self, config, collector: LogCollector, seed=None):
    self.config = config
    self.collector = collector
    self.sampling_rate = config.sampling_config.sampling_rate
    self._random = random.Random(seed)

  def sample(self) -> bool:
    rate = self.sampling_rate
    return rate >= 1.0 or (rate > 0.0 and self._random.random() < rate)

  def log(self, kind: str, request, response, make_metadata) -> bool:
    """Samples; if chosen, queues the record (built on the writer thread).

    `request` and `response` are protos, or callables returning them (so a
    REST call builds its protos only when sampled, and off its thread).
    """
    if not self.sample():
      return False
    metadata = make_metadata()
    metadata.sampling_config.CopyFrom(self.config.sampling_config)
    return self.collector.collect(
        metadata.model_spec.name,
        lambda: build_log(kind, request, response, metadata))


def _config_key(logging_config) -> bytes:
  return logging_config.SerializeToString(deterministic=True)


class ServerRequestLogger:
  """Model name -> RequestLoggers, updated with each config (TF Serving's).

  `prepare(config)` creates what a new ModelServerConfig needs (an unknown
  collector type or a bad config raises, and the running config stays);
  `commit` swaps it in and closes the collectors no model uses any more;
  `abort` undoes a prepare whose config was rejected for another reason.
  """

  def __init__(self, options=None, metrics=None):
    self.options = options
    self.metrics = metrics
    self._by_model: Dict[str, List[RequestLogger]] = {}
    self._by_config: Dict[bytes, RequestLogger] = {}
    self._lock = threading.Lock()

  def prepare(self, model_server_config):
    by_config: Dict[bytes, RequestLogger] = {}
    created: List[RequestLogger] = []
    by_model: Dict[str, List[RequestLogger]] = {}
    try:
      for model in model_server_config.model_config_list.config:
        if not model.HasField('logging_config'):
          continue
        config = model.logging_config
        rate = config.sampling_config.sampling_rate
        if not 0.0 <= rate <= 1.0:
          raise status.invalid_argument(
              f'Model {model.name}: sampling_rate must be in [0, 1], got '
              f'{rate}')
        key = _config_key(config)
        logger = by_config.get(key) or self._by_config.get(key)
        if logger is None:
          logger = RequestLogger(
              config, create_collector(config.log_collector_config,
                                       self.options, self.metrics))
          created.append(logger)
        by_config[key] = logger
        by_model.setdefault(model.name, []).append(logger)
    except BaseException:
      for logger in created:
        logger.collector.close()
      raise
    return by_model, by_config, created

  def commit(self, prepared) -> None:
    by_model, by_config, _ = prepared
    with self._lock:
      old = self._by_config
      self._by_model, self._by_config = by_model, by_config
    for key, logger in old.items():
      if key not in by_config:
        logger.collector.close()

  @staticmethod
  def abort(prepared) -> None:
    for logger in prepared[2]:
      logger.collector.close()

  def loggers(self, model_name: str) -> List[RequestLogger]:
    return self._by_model.get(model_name, [])

  def log(self, kind: str, model_name: str, version: int,
          signature_name: str, request, response,
          saved_model_tags=()) -> None:
    """Offers one successful call to the model's loggers; never raises."""
    loggers = self._by_model.get(model_name)
    if not loggers:
      return
    now = int(time.time())

    def make_metadata():
      metadata = logging_pb2.LogMetadata()
      spec = metadata.model_spec
      spec.name = model_name
      spec.version.value = version
      if signature_name:
        spec.signature_name = signature_name
      metadata.saved_model_tags.extend(saved_model_tags)
      metadata.timestamp_secs = now
      return metadata

    try:
      for logger in loggers:
        logger.log(kind, request, response, make_metadata)
    except Exception:  # pylint: disable=broad-except
      logging.exception('Request logging failed (request unaffected)')

  def collectors(self) -> List[LogCollector]:
    return [logger.collector for logger in self._by_config.values()]

  def flush(self, timeout: float = 10.0) -> bool:
    return all([c.flush(timeout) for c in self.collectors()])

  def close(self) -> None:
    with self._lock:
      loggers, self._by_model, self._by_config = (
          list(self._by_config.values()), {}, {})
    for logger in loggers:
      logger.collector.close()
