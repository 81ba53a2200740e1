"""Time and peak memory of converting a multi-gigabyte CFPB export.

`python -m benchmarks.bench_export` (`make bench-export`) writes, in a
temporary folder deleted afterwards, an export of at least `--gb` GB (2 by
default) in the CFPB layout: generated complaints (`data.generate`) repeated
in blocks with fresh Complaint IDs, every other block's narratives broken
over several lines as in the real export (`\\r\\n` and blank lines), one row
in ten unlabelled ("N/A", as after April 2017), and one row in a thousand a
repeat of a Complaint ID from an earlier block (which the conversion must
drop). Then it converts it the way `pipeline run --data` does
(`pipeline.input_data.prepare`: the span, the unlabelled rows, the
deduplication) in a child process, and records the wall time, rows/s and
the child's peak resident memory (the kernel's high-water mark, and the
process tree sampled every 0.2 s). The same is done for a smaller export
(`--small-gb`), also with the in-memory path the pipeline used before
(`input_data.read_exports`), to show what streaming saves. Results:
benchmarks/results/export.json.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict

from benchmarks import bench_pipeline

RESULTS = os.path.join(bench_pipeline.REPO, 'benchmarks', 'results',
                       'export.json')
TARGETS = {'peak_rss_mb_streaming_2gb': 1024}
BASE_ROWS = 20_000
DUPLICATE_EVERY = 1000
UNLABELLED_EVERY = 10


def write_export(path: str, gigabytes: float, seed: int) -> Dict:
  """Writes the export; returns its size, rows, and expected row counts."""
  from data import generate  # pylint: disable=g-import-not-at-top
  base, _ = generate.generate(BASE_ROWS, seed)
  base = base.astype(object)
  ids = base['Complaint ID'].astype('int64')
  first_id = int(ids.max()) + 1
  target = int(gigabytes * 1e9)
  rows = blocks = duplicates = unlabelled = 0
  with open(path, 'w', newline='', encoding='utf-8') as f:
    while f.tell() < target:
      block = base.copy()
      block['Complaint ID'] = (ids + blocks * (first_id - int(ids.min())))
      if blocks % 2:
        block['Consumer complaint narrative'] = block[
            'Consumer complaint narrative'].str.replace(
                '. ', '.\r\n\r\n', regex=False)
      no_label = block.index % UNLABELLED_EVERY == 3
      block.loc[no_label, 'Consumer disputed?'] = 'N/A'
      if blocks:
        repeat = block.index % DUPLICATE_EVERY == 7
        block.loc[repeat, 'Complaint ID'] = ids[repeat]  # From block 0.
        duplicates += int(repeat.sum())
        unlabelled += int((no_label & ~repeat).sum())
      else:
        unlabelled += int(no_label.sum())
      block['Complaint ID'] = block['Complaint ID'].astype(str)
      f.write(block.to_csv(index=False, header=not blocks,
                           lineterminator='\n'))
      rows += len(block)
      blocks += 1
    size = f.tell()
  return {'bytes': size, 'gb': round(size / 1e9, 3), 'rows': rows,
          'blocks_of_rows': blocks, 'repeated_ids': duplicates,
          'expected_unlabelled_rows': unlabelled,
          'expected_labelled_rows': rows - duplicates - unlabelled}


def convert_in_child(export: str, out: str, mode: str) -> Dict:
  """Converts in a fresh process; wall time and its peak memory."""
  started = time.time()
  result = bench_pipeline.run_timed(
      [sys.executable, '-m', 'benchmarks.bench_export', '--child', mode,
       export, out], os.path.join(os.path.dirname(out), f'{mode}.log'))
  child = json.loads(result.pop('stdout').strip().splitlines()[-1])
  result.update(child)
  result['wall_seconds'] = round(time.time() - started, 1)
  return result


def child(mode: str, export: str, out: str) -> int:
  """The conversion itself, in its own process; prints its JSON line."""
  from pipeline import input_data  # pylint: disable=g-import-not-at-top
  started = time.time()
  if mode == 'streaming':
    prepared = input_data.prepare([export], os.path.join(out, 'input'),
                                  os.path.join(out, 'unlabelled'))
    labelled, unlabelled = prepared.labelled_rows, prepared.unlabelled_rows
  else:  # The pre-streaming path: the whole export in memory.
    from data import cfpb_export  # pylint: disable=g-import-not-at-top
    rows, rest = cfpb_export.split_labelled(input_data.read_exports([export]))
    cfpb_export.write_pipeline_csv(cfpb_export.to_pipeline_frame(rows),
                                   os.path.join(out, 'complaints.csv'))
    cfpb_export.write_pipeline_csv(
        cfpb_export.to_pipeline_frame(rest, include_label=False),
        os.path.join(out, 'unlabelled.csv'))
    labelled, unlabelled = len(rows), len(rest)
  seconds = time.time() - started
  peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  print(json.dumps({'convert_seconds': round(seconds, 1),
                    'max_rss_mb': round(peak_kb / 1024),
                    'labelled_rows': labelled, 'unlabelled_rows': unlabelled}))
  return 0


def bench_size(work: str, gigabytes: float, seed: int, modes) -> Dict:
  export = os.path.join(work, f'export_{gigabytes}gb.csv')
  started = time.time()
  made = write_export(export, gigabytes, seed)
  made['write_seconds'] = round(time.time() - started, 1)
  print('export:', json.dumps(made), flush=True)
  out = {'export': made}
  for mode in modes:
    folder = os.path.join(work, f'out_{gigabytes}_{mode}')
    os.makedirs(folder)
    run = convert_in_child(export, folder, mode)
    run['rows_per_second'] = round(made['rows'] / run['convert_seconds'])
    run['mb_per_second'] = round(made['bytes'] / 2**20 /
                                 run['convert_seconds'], 1)
    run['rows_as_expected'] = (
        run['labelled_rows'] == made['expected_labelled_rows'] and
        run['unlabelled_rows'] == made['expected_unlabelled_rows'])
    print(mode + ':', json.dumps(run), flush=True)
    out[mode] = run
    shutil.rmtree(folder)
  os.remove(export)
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--gb', type=float, default=2.0)
  parser.add_argument('--small-gb', type=float, default=0.2,
                      help='also convert an export this big, in memory too '
                      '(0: skip)')
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--out', default=RESULTS)
  parser.add_argument('--child', nargs=3, metavar=('MODE', 'EXPORT', 'OUT'),
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    return child(*args.child)
  work = tempfile.mkdtemp(prefix='bench_export_')
  results = {'machine': bench_pipeline.machine(),
             'targets': TARGETS,
             'chunk': chunk_settings()}
  try:
    if args.small_gb:
      results[f'export_{args.small_gb}gb'] = bench_size(
          work, args.small_gb, args.seed, ['streaming', 'in_memory'])
    results[f'export_{args.gb}gb'] = bench_size(work, args.gb, args.seed,
                                                ['streaming'])
  finally:
    shutil.rmtree(work, ignore_errors=True)
  bench_pipeline.write_results(args.out, results)
  return 0


def chunk_settings() -> Dict:
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  return {'rows': cfpb_export.CHUNK_ROWS, 'chars': cfpb_export.CHUNK_CHARS}


if __name__ == '__main__':
  sys.exit(main())
