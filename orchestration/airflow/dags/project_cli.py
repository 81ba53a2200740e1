"""One step of the loop: a command of the project's CLI, in the project's venv.

Airflow runs in its own venv (`.venv-airflow`, Python 3.11, Airflow 3) and
the project in its own (`.venv`, Python 3.10, TFX 1.16): the two stacks pin
different versions of the same libraries and never share an interpreter.
A task therefore starts `<repo>/.venv/bin/python -m ...` as a child process
and turns its exit code into what Airflow should do:

- 0, or a code the step declares an answer (the monitor's 4: an alert):
  done, the code returned;
- 2 (bad input) and 3 (the data gate): failed without a retry, since a
  retry would read the same input and fail the same way;
- anything else (1: a component or the server failed, a signal): failed,
  retried as the task's `retries` say.

The child runs in its own process group; when the task is stopped (its
`execution_timeout`, a user marking it failed) the whole group is
terminated, Beam workers and model servers included. stderr (progress, the
one-line error) goes to the task's log; stdout (a command's `--json`) is
returned.

Imports nothing of the project and nothing but Airflow's SDK and the
standard library: this file is parsed by Airflow's interpreter.
"""

import dataclasses
import os
import pathlib
import shlex
import signal
import subprocess
import sys
from typing import Sequence

from airflow.sdk.exceptions import AirflowException, AirflowFailException

# orchestration/airflow/dags/ -> the repository (override: COMPLAINTS_REPO).
REPO = pathlib.Path(os.environ.get(
    'COMPLAINTS_REPO', pathlib.Path(__file__).resolve().parents[3]))
PYTHON = os.environ.get('COMPLAINTS_PYTHON', str(REPO / '.venv' / 'bin' /
                                                 'python'))
EXIT_BAD_INPUT = 2
EXIT_DATA_GATE = 3
NOT_RETRIED = {EXIT_BAD_INPUT: 'bad input', EXIT_DATA_GATE: 'the data gate'}
STOP_GRACE_SECONDS = 30


@dataclasses.dataclass
class StepResult:
  code: int
  stdout: str


def run(module: str, args: Sequence[str],
        answers: Sequence[int] = (0,)) -> StepResult:
  """`python -m module args...` in the project's venv, from the repo root.

  Raises:
    AirflowFailException: exit 2 or 3 (no retry).
    AirflowException: any other code not in answers (retried).
  """
  command = [PYTHON, '-m', module, *args]
  print('+ ' + shlex.join(command), file=sys.stderr, flush=True)
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
  try:
    stdout, _ = process.communicate()
  except BaseException:  # the task's timeout or a kill: stop the whole group
    _stop_group(process)
    raise
  if process.returncode in answers:
    return StepResult(process.returncode, stdout)
  print(stdout[-4000:], file=sys.stderr)
  why = f'{module} {args[0] if args else ""} exited {process.returncode}'
  if process.returncode in NOT_RETRIED:
    raise AirflowFailException(
        f'{why} ({NOT_RETRIED[process.returncode]}: a retry would fail the '
        'same way; its one-line error is above)')
  raise AirflowException(f'{why}; see the log above')


def _stop_group(process: subprocess.Popen) -> None:
  """SIGTERM to the child's group, SIGKILL after a grace period."""
  for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5)):
    try:
      os.killpg(process.pid, sig)
    except ProcessLookupError:
      return
    try:
      process.wait(timeout=wait)
      return
    except subprocess.TimeoutExpired:
      continue
