"""Marks for what one of the two stacks cannot do (stacks/README.md).

`cannot_on('tfx121', why)` marks a test that fails on that stack for a
reason outside the project's code; it runs there anyway, as a strict xfail:
the report names the stack and the reason, and the day the stack can do it
the test passes, which fails the run (XPASS) until the mark is removed. It
is not a skip, so CI=true (tests/ci_no_skip.py) leaves it alone, and on the
other stack the test is an ordinary test.
"""

import pytest

from components import stack

RUNNING = stack.stack_versions()['stack']
STACKS = tuple(stack.STACK_BY_TFX.values())


def cannot_on(stack_name: str, reason: str):
  """A strict xfail on `stack_name` ('tfx116' or 'tfx121') saying why."""
  if stack_name not in STACKS:
    raise ValueError(f'unknown stack {stack_name!r}: one of {STACKS}')
  return pytest.mark.xfail(RUNNING == stack_name, strict=True,
                           reason=f'{stack_name} cannot: {reason}')
