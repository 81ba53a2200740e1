"""The bulk scorer's progress bar on stderr.

On a terminal the bar is redrawn in place; anywhere else (a log file, a
pipe, a parent process reading stderr) it is one line per 10%, so logs
stay short.
"""

import sys
import time


class Progress:
  """A progress bar on stderr: redrawn in place on a terminal, otherwise
  one line per 10% (so logs stay short)."""

  def __init__(self, total: int, stream=None, width: int = 30):
    self.total, self.width = max(total, 0), width
    self.stream = sys.stderr if stream is None else stream
    self.tty = getattr(self.stream, 'isatty', lambda: False)()
    self.start = time.monotonic()
    self._last_decile = -1

  def update(self, done: int, failed: int) -> None:
    fraction = done / self.total if self.total else 1.0
    decile = int(fraction * 10)
    if not self.tty and decile == self._last_decile and done < self.total:
      return
    self._last_decile = decile
    filled = int(fraction * self.width)
    rate = done / max(time.monotonic() - self.start, 1e-9)
    line = (f'[{"#" * filled}{"." * (self.width - filled)}] {done}/'
            f'{self.total} rows {fraction:4.0%}  {rate:,.0f} rows/s'
            + (f'  {failed} failed' if failed else ''))
    self.stream.write(('\r' + line) if self.tty else (line + '\n'))
    self.stream.flush()

  def close(self) -> None:
    if self.tty:
      self.stream.write('\n')
      self.stream.flush()
