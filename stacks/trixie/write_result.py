"""Writes stacks/trixie/last_result.json: the outcome of `make test-trixie`.

Called by stacks/trixie/run.sh with each step's exit code and seconds, the
stack's versions (`python -m components.stack --json` in the chroot) and
pytest's JUnit XML, so the committed file says what ran where and how it
ended: date, commit, pass/fail, test counts, times. Standard library only:
it runs on the host's python3, outside the chroot's venv.
"""

import argparse
import json
import os
import platform
import xml.etree.ElementTree as ET


def test_counts(junit_path: str):
  """passed/failed/errors/skipped/total and pytest's own seconds, or None."""
  if not os.path.exists(junit_path):
    return None
  root = ET.parse(junit_path).getroot()
  suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
  total = sum(int(s.get('tests', 0)) for s in suites)
  failed = sum(int(s.get('failures', 0)) for s in suites)
  errors = sum(int(s.get('errors', 0)) for s in suites)
  # JUnit has no xfail: pytest writes an expected failure as a skip of type
  # pytest.xfail (the tests/stack_marks.cannot_on marks).
  xfailed = sum(1 for s in suites for case in s.iter('testcase')
                if any(e.get('type') == 'pytest.xfail'
                       for e in case.findall('skipped')))
  skipped = sum(int(s.get('skipped', 0)) for s in suites) - xfailed
  failing = [f"{case.get('classname')}::{case.get('name')}"
             for s in suites for case in s.iter('testcase')
             if case.find('failure') is not None
             or case.find('error') is not None]
  return {'total': total,
          'passed': total - failed - errors - skipped - xfailed,
          'failed': failed, 'errors': errors, 'skipped': skipped,
          'xfailed': xfailed,
          'pytest_seconds': round(sum(float(s.get('time', 0))
                                      for s in suites), 1),
          'failing': failing}


def parse_step(text: str):
  """'make run=0:1234' -> ('make run', {'exit_code': 0, 'seconds': 1234});
  exit code -1 is a step that did not run (an earlier one failed)."""
  name, outcome = text.rsplit('=', 1)
  code, seconds = outcome.split(':')
  return name, {'exit_code': int(code), 'seconds': int(seconds),
                'ran': int(code) != -1}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True)
  parser.add_argument('--started', required=True)
  parser.add_argument('--commit', required=True)
  parser.add_argument('--stack', required=True, help='components.stack JSON')
  parser.add_argument('--junit', required=True)
  parser.add_argument('--step', action='append', default=[])
  parser.add_argument('--lock-wait', type=int, default=0,
                      help='seconds spent waiting for /tmp/heavy.lock')
  parser.add_argument('--pending', action='append', default=[],
                      help='a stacks/trixie/pending/ patch applied to the copy')
  args = parser.parse_args(argv)
  steps = dict(parse_step(s) for s in args.step)
  with open(args.stack, encoding='utf-8') as f:
    stack = json.load(f)
  record = {
      'started': args.started,
      'commit': args.commit,
      'passed': all(s['exit_code'] == 0 for s in steps.values()),
      'steps': steps,
      'heavy_lock_wait_seconds': args.lock_wait,
      # Patches for files not yet changed upstream, applied on top of the
      # commit (stacks/trixie/pending/); empty: the commit alone.
      'pending_patches_applied': args.pending,
      'tests': test_counts(args.junit),
      'stack': stack,
      'host': {'machine': platform.machine(), 'cpus': os.cpu_count(),
               'kernel': platform.release()},
      'how': 'make test-trixie (stacks/trixie/run.sh all): Debian 13 chroot, '
             'HEAD copied in (plus pending_patches_applied), CI=true, `make run` then `make test`',
  }
  tmp = args.out + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(json.dumps(record, indent=1, sort_keys=True) + '\n')
  os.replace(tmp, args.out)
  print(f"{args.out}: {'passed' if record['passed'] else 'FAILED'}")
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
