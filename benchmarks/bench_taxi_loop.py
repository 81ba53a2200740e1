"""`make bench-taxi-loop`: the whole loop on the real taxi trips, quarter by
quarter, into benchmarks/results/taxi_loop.json.

Runs `python -m pipeline loop --dataset taxi` as a user would (the tfx
package's 15,002 trips, 2013-2016, the loop's defaults: a window of 2
periods, no Tuner, 300 train steps, the gate at 0.6) in a fresh output
folder, and keeps its loop.json with the command and commit that made it.
Per round: the quarter, the monitor's alerts and largest distances (the
real drift), the served model's live AUC next to the first model's on the
same trips (what retraining bought), the canary's and stable's AUC on
their arms of the split, the verdict. Wall time depends on the machine;
the AUCs and verdicts do not (fixed seeds), up to TensorFlow's float
nondeterminism.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from benchmarks import result_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, 'benchmarks', 'results', 'taxi_loop.json')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default=RESULT)
  parser.add_argument('--keep', action='store_true',
                      help='keep the loop output folder (printed)')
  parser.add_argument('loop_args', nargs='*',
                      help='more `pipeline loop` options, after --')
  args = parser.parse_args(argv)
  work = tempfile.mkdtemp(prefix='bench-taxi-loop-')
  command = [sys.executable, '-m', 'pipeline', 'loop', '--dataset', 'taxi',
             '--output', os.path.join(work, 'output'), '--json',
             *args.loop_args]
  partial = os.path.join(work, 'output', 'loop', 'loop.partial.json')
  try:
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE,
                          text=True)
    failed = proc.returncode
  except KeyboardInterrupt:   # stopped by hand: keep the rounds measured
    failed = 'interrupted'
  if failed:
    if not os.path.isfile(partial):
      print(f'error: the loop failed ({failed}) before a round ended; its '
            f'output is in {work}', file=sys.stderr)
      return 1
    with open(partial, encoding='utf-8') as f:
      result = json.load(f)
    result['stopped'] = f'the loop stopped ({failed}) after ' \
                        f'{len(result["rounds"])} round(s)'
    print(f'warning: {result["stopped"]}: writing them', file=sys.stderr)
  else:
    result = json.loads(proc.stdout)
  result['loop_command'] = ' '.join(['python'] + command[1:]).replace(
      work, '<tmp>')
  result_file.write(args.out, result)
  print(f'wrote {args.out}')
  if args.keep:
    print(f'loop output: {work}')
  else:
    shutil.rmtree(work, ignore_errors=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
