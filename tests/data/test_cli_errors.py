"""Bad arguments of the data commands, run as a person runs them.

Each case runs `python -m data.<command>` in a subprocess and checks what the
person sees: exit status 2, exactly one stderr line starting with `error:`
that says what is wrong, no traceback, nothing on stdout, and every file
that was there before (including the requested output) unchanged, with no
temporary file left behind.
"""

import csv
import gzip
import io
import os
import pathlib
import subprocess
import sys

import pytest

from data import files
from data import generate

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = REPO / 'tests' / 'fixtures' / 'cfpb_export_small.csv'
UNLABELLED = REPO / 'data' / 'real' / 'cfpb_unlabelled_narratives.csv'
OLD_MTIME_NS = 10**18  # 2001-09-09: proves a file was not rewritten.
ROWS_RANGE = 'the number of rows must be a whole number from 1 to 1000000'
SEED_RANGE = 'the seed must be a whole number from 0 to 4294967295'
SPAN_RANGE = 'the span must be a whole number from 0 to 999'
SCENARIOS = ('none, product_shift, channel_shift, product_channel_shift, '
             'new_response, narrative_wording, concept_drift')


def run(module, *args):
  """Runs `python -m <module> <args>` from the repository root."""
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, expected):
  """Exit 2, one `error:` line on stderr containing `expected`, no output."""
  assert 'Traceback' not in proc.stderr, proc.stderr
  assert proc.returncode == 2, (proc.returncode, proc.stderr)
  lines = proc.stderr.splitlines()
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith('error: '), lines[0]
  assert expected in lines[0], lines[0]
  assert proc.stdout == ''


def snapshot(folder):
  """Every path under `folder` -> (bytes or None for folders, mtime)."""
  state = {}
  for path in sorted(pathlib.Path(folder).rglob('*')):
    content = path.read_bytes() if path.is_file() else None
    state[str(path.relative_to(folder))] = (content, path.stat().st_mtime_ns)
  return state


def write_old(path, content: bytes):
  """Writes a file that looks written long ago, so a rewrite shows."""
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(content)
  os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
  return path


def fill(values, places):
  """Replaces {name} placeholders with the test's own paths."""
  return [value.format(**places) for value in values]


@pytest.fixture
def places(tmp_path):
  """Paths the cases refer to; files are made before each case runs.

  out.csv / report.md stand for results of an earlier, good run; gen/ holds
  generated files from one; export.csv is a valid export to convert.
  """
  work = tmp_path / 'work'
  write_old(work / 'out.csv', b'complaint_id,label\n1,0\n')
  write_old(work / 'report.md', b'# an earlier report\n')
  write_old(work / 'gen' / 'complaints_5_seed42.csv', b'earlier rows\n')
  write_old(work / 'export.csv', FIXTURE.read_bytes())
  header = FIXTURE.read_bytes().split(b'\n', 1)[0] + b'\n'
  write_old(work / 'header_only.csv', header)
  write_old(work / 'picture.csv', b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff')
  write_old(work / 'export.csv.gz', gzip.compress(FIXTURE.read_bytes()))
  write_old(work / 'complaints.json', b'{"complaints": []}\n')
  write_old(work / 'no_state_no_label.csv', _without_columns(
      FIXTURE.read_text(encoding='utf-8'), ('State', 'Consumer disputed?')))
  text = FIXTURE.read_text(encoding='utf-8')
  write_old(work / 'truncated.csv',
            text[:text.rindex(',Yes,No,')].encode('utf-8'))
  (work / 'folder').mkdir()
  return {'work': str(work), 'fixture': str(FIXTURE),
          'unlabelled': str(UNLABELLED)}


def _without_columns(text, names):
  """The CSV `text` without the columns `names` (csv module, not the loader)."""
  records = list(csv.reader(io.StringIO(text, newline='')))
  keep = [i for i, name in enumerate(records[0]) if name not in names]
  out = io.StringIO(newline='')
  writer = csv.writer(out, lineterminator='\n')
  for record in records:
    writer.writerow([record[i] for i in keep])
  return out.getvalue().encode('utf-8')


GENERATE_CASES = {
    'rows 0': (['--rows', '0', '--out', '{work}/gen'],
               'argument --rows: %s, got 0' % ROWS_RANGE),
    'rows negative': (['--rows', '-5', '--out', '{work}/gen'],
                      'argument --rows: %s, got -5' % ROWS_RANGE),
    'rows too many': (['--rows', '1000001', '--out', '{work}/gen'],
                      'argument --rows: %s, got 1000001' % ROWS_RANGE),
    'rows not a number': (['--rows', 'abc', '--out', '{work}/gen'],
                          "argument --rows: expected a whole number, got "
                          "'abc'"),
    'rows a fraction': (['--rows', '2.5', '--out', '{work}/gen'],
                        "argument --rows: expected a whole number, got '2.5'"),
    'rows without value': (['--out', '{work}/gen', '--rows'],
                           'argument --rows: expected one argument'),
    'seed negative': (['--rows', '5', '--seed', '-1', '--out', '{work}/gen'],
                      'argument --seed: %s, got -1' % SEED_RANGE),
    'seed too large': (['--rows', '5', '--seed', '4294967296', '--out',
                        '{work}/gen'],
                       'argument --seed: %s, got 4294967296' % SEED_RANGE),
    'seed not a number': (['--rows', '5', '--seed', 'x', '--out',
                           '{work}/gen'],
                          "argument --seed: expected a whole number, got 'x'"),
    'span negative': (['--rows', '5', '--span', '-1', '--out', '{work}/gen'],
                      'argument --span: %s, got -1' % SPAN_RANGE),
    'span too large': (['--rows', '5', '--span', '1000', '--out',
                        '{work}/gen'],
                       'argument --span: %s, got 1000' % SPAN_RANGE),
    'span not a number': (['--rows', '5', '--span', 'next', '--out',
                           '{work}/gen'],
                          "argument --span: expected a whole number, got "
                          "'next'"),
    'scenario unknown': (['--rows', '5', '--scenario', 'drift', '--out',
                          '{work}/gen'],
                         "argument --scenario: unknown scenario 'drift'; "
                         'choose from %s (see python -m data.generate --help)'
                         % SCENARIOS),
    'scenario empty': (['--rows', '5', '--scenario', '', '--out',
                        '{work}/gen'],
                       "argument --scenario: unknown scenario ''"),
    'scenario wrong case': (['--rows', '5', '--scenario', 'Concept_Drift',
                             '--out', '{work}/gen'],
                            "argument --scenario: unknown scenario "
                            "'Concept_Drift'"),
    'out missing': (['--rows', '5'],
                    'the following arguments are required: --out '
                    '(see python -m data.generate --help)'),
    'out empty': (['--rows', '5', '--out', ''],
                  'the output folder name is empty'),
    'out is a file': (['--rows', '5', '--out', '{work}/out.csv'],
                      'cannot write in {work}/out.csv: it is a file, not a '
                      'directory'),
    'out under a file': (['--rows', '5', '--out', '{work}/out.csv/gen'],
                         'cannot write in {work}/out.csv/gen: '
                         '{work}/out.csv is a file, not a directory'),
    'out read-only (/sys)': (['--rows', '5', '--out', '/sys/generated'],
                             'cannot write in /sys/generated: cannot create '
                             'files in /sys'),
    'unknown option': (['--rows', '5', '--out', '{work}/gen', '--colour'],
                       'unrecognized arguments: --colour'),
}

EXPORT_CASES = {
    'header only': (['{work}/header_only.csv', '--out', '{work}/out.csv'],
                    '{work}/header_only.csv has a header but no complaint '
                    'rows'),
    'no labelled row': (['{unlabelled}', '--out', '{work}/out.csv'],
                        '{unlabelled} has 2008 complaint rows but none with '
                        'a Yes/No "Consumer disputed?"'),
    'input missing': (['{work}/nope.csv', '--out', '{work}/out.csv'],
                      'cannot read {work}/nope.csv: No such file or '
                      'directory'),
    'input is a folder': (['{work}/folder', '--out', '{work}/out.csv'],
                          'cannot read {work}/folder: Is a directory'),
    'input name empty': (['', '--out', '{work}/out.csv'],
                         'the export file name is empty'),
    'input binary': (['{work}/picture.csv', '--out', '{work}/out.csv'],
                     '{work}/picture.csv is not UTF-8 text'),
    'input gzipped': (['{work}/export.csv.gz', '--out', '{work}/out.csv'],
                      '{work}/export.csv.gz is a compressed archive'),
    'input not a CSV export': (['{work}/complaints.json', '--out',
                                '{work}/out.csv'],
                               '{work}/complaints.json lacks required '
                               "column(s) 'Product'"),
    'input lacks columns': (['{work}/no_state_no_label.csv', '--out',
                             '{work}/out.csv'],
                            '{work}/no_state_no_label.csv lacks required '
                            "column(s) 'State', 'Consumer disputed?'."),
    'input truncated': (['{work}/truncated.csv', '--out', '{work}/out.csv'],
                        '{work}/truncated.csv: data row 10 has'),
    'out is the input': (['{work}/export.csv', '--out',
                          '{work}/folder/../export.csv'],
                         'cannot write {work}/folder/../export.csv: it is the '
                         'export being converted'),
    'out is a folder': (['{work}/export.csv', '--out', '{work}/folder'],
                        'cannot write {work}/folder: it is a directory, not '
                        'a file'),
    'out under a file': (['{work}/export.csv', '--out',
                          '{work}/out.csv/input.csv'],
                         'cannot write {work}/out.csv/input.csv: '
                         '{work}/out.csv is a file, not a directory'),
    'out read-only (/sys)': (['{work}/export.csv', '--out', '/sys/input.csv'],
                             'cannot write /sys/input.csv: cannot create '
                             'files in /sys'),
    'out empty': (['{work}/export.csv', '--out', ''],
                  'the output file name is empty'),
    'out missing': (['{work}/export.csv'],
                    'the following arguments are required: --out'),
    'no arguments': ([], 'the following arguments are required: export_csv, '
                     '--out'),
    'unknown option': (['{work}/export.csv', '--out', '{work}/out.csv',
                        '--all'], 'unrecognized arguments: --all'),
}

COMPARE_CASES = {
    'rows 0': (['--rows', '0', '--out', '{work}/report.md'],
               'argument --rows: %s, got 0' % ROWS_RANGE),
    'rows not a number': (['--rows', 'many'],
                          "argument --rows: expected a whole number, got "
                          "'many'"),
    'seed negative': (['--rows', '5', '--seed', '-3'],
                      'argument --seed: %s, got -3' % SEED_RANGE),
    'out empty': (['--rows', '5', '--out', ''],
                  'the output file name is empty'),
    'out is a folder': (['--rows', '5', '--out', '{work}/folder'],
                        'cannot write {work}/folder: it is a directory'),
    'out under a file': (['--rows', '5', '--out', '{work}/report.md/new.md'],
                         '{work}/report.md is a file, not a directory'),
    'out read-only (/sys)': (['--rows', '5', '--out', '/sys/report.md'],
                             'cannot write /sys/report.md: cannot create '
                             'files in /sys'),
    'unknown option': (['--rows', '5', '--html'],
                       'unrecognized arguments: --html'),
}


def _check_case(module, case, places):
  """Runs one case; asserts the error line and that nothing changed."""
  args, expected = case
  before = snapshot(places['work'])
  proc = run(module, *fill(args, places))
  assert_one_line_error(proc, expected.format(**places))
  assert snapshot(places['work']) == before


@pytest.mark.parametrize('name', sorted(GENERATE_CASES))
def test_generate_bad_argument(name, places):
  _check_case('data.generate', GENERATE_CASES[name], places)


@pytest.mark.parametrize('name', sorted(EXPORT_CASES))
def test_cfpb_export_bad_argument(name, places):
  _check_case('data.cfpb_export', EXPORT_CASES[name], places)


@pytest.mark.parametrize('name', sorted(COMPARE_CASES))
def test_compare_real_bad_argument(name, places):
  _check_case('data.compare_real', COMPARE_CASES[name], places)


def test_cases_cover_every_option():
  """A new option must come with its bad values here."""
  for module, cases, options in [
      ('data.generate', GENERATE_CASES,
       {'--rows', '--seed', '--scenario', '--span', '--out'}),
      ('data.cfpb_export', EXPORT_CASES, {'--out'}),
      ('data.compare_real', COMPARE_CASES, {'--rows', '--seed', '--out'})]:
    help_text = run(module, '--help').stdout
    declared = {word.strip('[],') for word in help_text.split()
                if word.startswith(('--', '[--')) and not word.startswith(
                    ('--help', '[--help', '--json', '[--json'))}
    assert declared == options, module
    used = {arg for args, _ in cases.values() for arg in args}
    assert options <= used, module


def test_good_conversion_still_replaces_the_output(places):
  """The checks must not stop a valid conversion from updating `out`."""
  out = pathlib.Path(places['work']) / 'out.csv'
  proc = run('data.cfpb_export', places['fixture'], '--out', str(out))
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr == ''
  assert '7 labelled rows' in proc.stdout
  assert out.read_text(encoding='utf-8').count('\n') == 8  # Header + 7 rows.
  assert not [p for p in os.listdir(out.parent) if p.endswith('.tmp')]


def test_generate_one_row_has_no_auc_and_no_error(tmp_path):
  """One complaint holds one class: the AUC is undefined, not a crash."""
  proc = run('data.generate', '--rows', '1', '--out', str(tmp_path), '--json')
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr == ''
  assert '"best_achievable_auc": null' in proc.stdout
  assert (tmp_path / 'complaints_1_seed42.csv').exists()


def test_compare_one_row_reports_dashes_and_no_error():
  proc = run('data.compare_real', '--rows', '1')
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr == ''
  assert '| best achievable AUC (true probability vs. label) | - | - |' in (
      proc.stdout)
  assert '| nan |' not in proc.stdout  # No narrative to measure: '-'.
  assert '| 50% | - | 777 |' in proc.stdout


@pytest.mark.parametrize('rows,seed', [
    (0, 42), (-1, 42), (1_000_001, 42), (2.0, 42), ('5', 42), (True, 42),
    (5, -1), (5, 2**32), (5, 1.5)])
def test_ensure_generated_rejects_bad_values_before_writing(rows, seed,
                                                            tmp_path):
  """The pipeline calls it with its own --rows/--seed: it must raise a
  ValueError subclass it can catch, and write nothing."""
  out = tmp_path / 'generated'
  with pytest.raises(generate.GeneratorArgumentError) as error:
    generate.ensure_generated(rows, seed, str(out))
  assert isinstance(error.value, ValueError)
  assert 'must be a whole number from' in str(error.value)
  assert not out.exists()


def test_ensure_generated_unwritable_folder_raises_output_error(tmp_path):
  blocker = write_old(tmp_path / 'generated', b'a file, not a folder\n')
  with pytest.raises(files.OutputError) as error:
    generate.ensure_generated(5, 42, str(blocker / 'sub'))
  assert isinstance(error.value, OSError)
  assert str(error.value) == (
      'cannot write %s: %s is a file, not a directory' %
      (blocker / 'sub' / 'complaints_5_seed42.csv', blocker))
  assert blocker.read_bytes() == b'a file, not a folder\n'


def test_write_refused_keeps_existing_target(tmp_path):
  """A failed write (here: the target is a folder) changes nothing."""
  target = tmp_path / 'target'
  write_old(target / 'inside.txt', b'kept\n')
  before = snapshot(tmp_path)
  with pytest.raises(files.OutputError, match='Is a directory'):
    files.write_bytes_if_changed(str(target), b'new content')
  assert snapshot(tmp_path) == before


def test_cases_do_not_depend_on_a_writable_sys():
  """The read-only cases assume /sys refuses new files, even for root."""
  with pytest.raises(OSError):
    with open('/sys/.consumer-complaints-test', 'xb'):
      pass
