"""What the data commands print when an argument is wrong: one line, exit 2.

A person who mistypes an argument of `python -m data.generate`,
`data.cfpb_export` or `data.compare_real` should read one line that says what
is wrong, starting with `error:`, not a usage block or a traceback, and the
exit status must say the command failed. 2 is argparse's own status for
usage errors, so every bad argument gets the same one.
"""

import argparse
import re
import sys
from typing import Callable, NoReturn, TypeVar

T = TypeVar('T')

USAGE_ERROR = 2
_LINE_BREAKS = re.compile(r'\s*[\r\n]+\s*')


def error_line(message) -> str:
  """`error: <message>` on one line: embedded line breaks become spaces.

  Messages quote file names and CSV headers, which may hold line breaks; a
  second line would read as a second error.
  """
  return 'error: ' + _LINE_BREAKS.sub(' ', str(message)).strip()


def fail(message) -> int:
  """Prints the one-line error to stderr; returns the exit status to use."""
  print(error_line(message), file=sys.stderr)
  return USAGE_ERROR


class ArgumentParser(argparse.ArgumentParser):
  """argparse whose usage errors are one `error:` line instead of a block.

  argparse prints the whole usage and then `<prog>: error: ...`; the usage
  stays available with --help, which the line points to.
  """

  def error(self, message: str) -> NoReturn:
    fail('%s (see %s --help)' % (message, self.prog))
    sys.exit(USAGE_ERROR)


def checked_int(check: Callable[[int], None]) -> Callable[[str], int]:
  """An argparse `type` that parses an int and validates it with `check`.

  The library function (`check`, raising ValueError) stays the one place
  that knows the valid range, so the CLI and library callers get the same
  rule and the same message.
  """

  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(
          'expected a whole number, got %r' % text) from None
    try:
      check(value)
    except ValueError as e:
      raise argparse.ArgumentTypeError(str(e)) from None
    return value

  return parse


def checked_value(convert: Callable[[str], T]) -> Callable[[str], T]:
  """An argparse `type` from a library function raising ValueError.

  Like `checked_int`, the library's message is the one the person reads.
  """

  def parse(text: str) -> T:
    try:
      return convert(text)
    except ValueError as e:
      raise argparse.ArgumentTypeError(str(e)) from None

  return parse
