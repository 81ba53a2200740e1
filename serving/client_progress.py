"""The bulk scorer's progress bar on stderr, drawn by tqdm.

On a terminal tqdm redraws the bar in place. Anywhere else (a log file, a
pipe, a parent process reading stderr) redrawing in place would leave one
long line of carriage returns, so the same line, formatted by tqdm's
`format_meter`, is written once per 10% instead, which keeps logs short:

  [#########.....................] 16/50 rows  32%  8 rows/s  48 failed

The rate is the average since the bar was made (tqdm's `smoothing=0`), and
the bar uses `#` and `.` only, so a log shows the same characters as a
terminal.
"""

import os
import sys
import time

import tqdm

_CHARSET = '.#'  # tqdm's `ascii`: empty, full (no partial blocks)
_UNLIMITED = 1 << 20  # tqdm's ncols / nrows: no limit


def _bar_format(width: int) -> str:
  return (f'[{{bar:{width}}}] {{n}}/{{total}} rows {{percentage:3.0f}}%  '
          '{per_second:,.0f} rows/s{failed}')


def _extra_fields(n: int, elapsed: float, failed: int) -> dict:
  """The two fields of the line that tqdm does not have itself."""
  return {'per_second': n / max(elapsed, 1e-9),
          'failed': f'  {failed} failed' if failed else ''}


def _ncols(stream) -> int:
  """Where tqdm cuts the line: a column short of the terminal, as tqdm
  reckons it itself. A terminal that reports no width (a pseudo-terminal
  nobody sized) gets the whole line: tqdm would cut it at -1 columns there
  and draw nothing."""
  try:
    columns = os.get_terminal_size(stream.fileno()).columns
  except (AttributeError, OSError, ValueError):
    columns = 0
  return columns - 1 if columns > 1 else _UNLIMITED


class _Bar(tqdm.tqdm):
  """tqdm with the failed-rows count and the rows/s figure of the line."""

  failed = 0

  @property
  def format_dict(self):
    found = super().format_dict
    found.update(_extra_fields(found['n'], found['elapsed'], self.failed))
    return found


class Progress:
  """A progress bar on stderr: redrawn in place on a terminal, otherwise
  one line per 10% (so logs stay short)."""

  def __init__(self, total: int, stream=None, width: int = 30):
    self.total = max(total, 0)
    self.stream = sys.stderr if stream is None else stream
    self.tty = getattr(self.stream, 'isatty', lambda: False)()
    self._format = _bar_format(width)
    self._start = time.monotonic()
    self._last_decile = -1
    # nrows only hides bars below the screen; this is the only one. Given,
    # it keeps tqdm from reading a height of -1 off an unsized terminal.
    self._bar = (_Bar(total=self.total, file=self.stream,
                      ncols=_ncols(self.stream), nrows=_UNLIMITED,
                      bar_format=self._format, ascii=_CHARSET, smoothing=0,
                      leave=True) if self.tty else None)

  def update(self, done: int, failed: int) -> None:
    """`done` rows so far (scored or failed), `failed` of them failed."""
    if self._bar is not None:
      self._bar.failed = failed
      self._bar.update(done - self._bar.n)
      return
    fraction = done / self.total if self.total else 1.0
    decile = int(fraction * 10)
    if decile == self._last_decile and done < self.total:
      return
    self._last_decile = decile
    elapsed = time.monotonic() - self._start
    self.stream.write(tqdm.tqdm.format_meter(
        done, self.total, elapsed, ascii=_CHARSET, bar_format=self._format,
        **_extra_fields(done, elapsed, failed)) + '\n')
    self.stream.flush()

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
