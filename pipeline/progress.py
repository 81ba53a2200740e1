"""What a person sees during a run: one line per component, logs to a file.

`quiet_run` sends everything the libraries print (TensorFlow's C++ logs,
Beam's workers, TFX, Keras, KerasTuner: file descriptors 1 and 2, which
child processes inherit) to the run's log file, and keeps a line per
component on the terminal. The lines come from TFX's own log records
(LocalDagRunner logs each component's start and end, the launcher logs a
cached execution), read by a logging handler: nothing is parsed from text
after the fact.
"""

import contextlib
import functools
import logging
import os
import sys
import threading
import time
from typing import Dict, Iterator, Optional, TextIO

_RUNNING = 'Component %s is running.'
_FINISHED = 'Component %s is finished.'
_CACHED = 'A cached execution %d is used.'
TICK_SECONDS = 1.0


class ComponentProgress(logging.Handler):
  """Turns TFX's component log records into one line per component."""

  def __init__(self, out: TextIO, live: bool):
    super().__init__(level=logging.INFO)
    self.out = out
    self.live = live            # a terminal: redraw the running line
    self.current: Optional[str] = None
    self.started = 0.0
    self.cached = False
    self.finished: Dict[str, str] = {}
    self._lock = threading.Lock()
    self._stop = threading.Event()
    self._ticker = threading.Thread(target=self._tick, daemon=True)
    self._ticker.start()

  def emit(self, record: logging.LogRecord) -> None:
    if record.msg == _RUNNING and record.args:
      self._start(str(record.args[0]))
    elif record.msg == _CACHED:
      self.cached = True
    elif record.msg == _FINISHED and record.args:
      self._end('cached' if self.cached else 'complete')

  def _line(self, state: str) -> str:
    return (f'  {self.current:<32} {state:<9} '
            f'{time.monotonic() - self.started:7.1f} s')

  def _write(self, text: str, final: bool) -> None:
    if self.live:
      self.out.write('\r\033[K' + text + ('\n' if final else ''))
    elif final:
      self.out.write(text + '\n')
    self.out.flush()

  def _start(self, node: str) -> None:
    with self._lock:
      self.current, self.started, self.cached = node, time.monotonic(), False
      self._write(self._line('running'), final=False)

  def _end(self, state: str) -> None:
    with self._lock:
      if self.current is None:
        return
      self._write(self._line(state), final=True)
      self.finished[self.current] = state
      self.current = None

  def fail(self) -> None:
    """The running component raised: its line says so."""
    self._end('failed')

  def _tick(self) -> None:
    while not self._stop.wait(TICK_SECONDS):
      with self._lock:
        if self.live and self.current is not None:
          self._write(self._line('running'), final=False)

  def close(self) -> None:
    self._stop.set()
    super().close()


def _at_most_info(logger: logging.Logger, level) -> None:
  """Logger.setLevel, but never above INFO (see quiet_run)."""
  if isinstance(level, str):
    level = logging.getLevelName(level.upper())
  logging.Logger.setLevel(logger, min(int(level), logging.INFO))


@contextlib.contextmanager
def _fds_to(path: str) -> Iterator[TextIO]:
  """Points fds 1 and 2 at path; yields a stream to the real stderr."""
  sys.stdout.flush()
  sys.stderr.flush()
  saved_out, saved_err = os.dup(1), os.dup(2)
  terminal = os.fdopen(os.dup(saved_err), 'w', buffering=1)
  log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  # Python's own streams too, for when they are not fds 1 and 2 (a test's
  # capture, an embedding application).
  streams = sys.stdout, sys.stderr
  log_stream = os.fdopen(os.dup(log_fd), 'w', buffering=1)
  try:
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = sys.stderr = log_stream
    yield terminal
  finally:
    sys.stdout, sys.stderr = streams
    log_stream.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved_out, 1)
    os.dup2(saved_err, 2)
    for fd in (log_fd, saved_out, saved_err):
      os.close(fd)
    terminal.close()


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
  """The libraries' output (TensorFlow's C++ log, Beam's warnings) to
  nowhere, for a command without a run log (init-dataset): what it prints
  itself comes after."""
  with _fds_to(os.devnull):
    yield


def send_shutdown_noise_to(path: str) -> None:
  """After the last useful output: what the interpreter prints while it
  tears TensorFlow down (AtomicFunction.__del__ tracebacks) goes to the log.
  """
  sys.stdout.flush()
  sys.stderr.flush()
  log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  os.dup2(log_fd, 2)
  os.close(log_fd)


@contextlib.contextmanager
def quiet_run(log_path: Optional[str]) -> Iterator[Optional[ComponentProgress]]:
  """Library output to log_path, component lines to the terminal's stderr.

  With log_path None (--verbose) nothing is redirected and no lines are
  added: the libraries' own output is the progress.
  """
  if log_path is None:
    yield None
    return
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  with _fds_to(log_path) as terminal:
    progress = ComponentProgress(terminal, live=terminal.isatty())
    # LocalDagRunner and the launcher log through absl, i.e. the Python
    # logger 'absl'; INFO must reach this handler whatever else is set.
    absl_logger = logging.getLogger('absl')
    level = absl_logger.level
    absl_logger.setLevel(logging.INFO)
    # Libraries a component loads (Keras when the Evaluator or the Trainer
    # loads a model, KerasTuner) set absl's verbosity to WARNING, and a
    # record below a logger's level is never made: TFX's "Component X is
    # finished" would be lost whenever it came before anyone set it back
    # (it did, now and then, for the Evaluator). So for the run the logger
    # takes no level above INFO; the log file still gets everything.
    absl_logger.setLevel = functools.partial(_at_most_info, absl_logger)
    absl_logger.addHandler(progress)
    root = logging.getLogger()
    file_handler = logging.StreamHandler(sys.stderr)  # fd 2: the log file
    root.addHandler(file_handler)
    try:
      yield progress
    except BaseException:
      progress.fail()
      raise
    finally:
      absl_logger.removeHandler(progress)
      del absl_logger.setLevel  # the class's own again
      absl_logger.setLevel(level)
      root.removeHandler(file_handler)
      progress.close()
