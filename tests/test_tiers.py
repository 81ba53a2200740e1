"""The fast tier (`-m "not e2e"`) leaves out every test of a shared
pipeline run, also in a file that names no e2e mark itself and relies on
tests/conftest.py to mark it (test_explain_pipeline_model.py does): the
marker must be on before pytest's own `-m` deselection."""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
RELIES_ON_THE_HOOK = 'tests/serving/test_explain_pipeline_model.py'


def _collect(*args) -> str:
  done = subprocess.run(
      [sys.executable, '-m', 'pytest', '--collect-only', '-q',
       '-p', 'no:randomly', '-p', 'no:cacheprovider', *args],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
  return done.stdout


def test_a_file_of_the_shared_run_is_not_in_the_fast_tier():
  source = (REPO / RELIES_ON_THE_HOOK).read_text(encoding='utf-8')
  assert 'e2e_run' in source and 'mark.e2e' not in source
  every = _collect(RELIES_ON_THE_HOOK)
  assert '3 tests collected' in every, every[-500:]
  fast = _collect('-m', 'not e2e', RELIES_ON_THE_HOOK)
  assert '0 selected' in fast or '3 deselected' in fast, fast[-500:]
  assert '::' not in fast
