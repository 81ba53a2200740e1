"""`pipeline run --dataset`: a spec or data that cannot work is one line,
exit 2, before TFX or TensorFlow start and before any span is written."""

import os

from tests.conftest import cli_in_process

SPEC = """name: birds
schema: birds.schema.pbtxt
label: {column: kind, task: multiclass, classes: [a, b]}
features:
  - {column: wing, kind: numeric}
  - {column: colour, kind: categorical}
model: {name: birds, output: kind_probabilities}
card: {purpose: p, intended_use: u, limitations: l}
"""


def _spec(tmp_path, text=SPEC, schema=True):
  (tmp_path / 'birds.yaml').write_text(text, encoding='utf-8')
  if schema:
    (tmp_path / 'birds.schema.pbtxt').write_text('', encoding='utf-8')
  return str(tmp_path / 'birds.yaml')


def _run(tmp_path, *args):
  proc = cli_in_process('run', '--output', tmp_path / 'out', *args)
  lines = proc.stderr.strip().splitlines()
  return proc.returncode, lines


def test_an_unknown_spec_name(tmp_path):
  code, lines = _run(tmp_path, '--dataset', 'nosuch')
  assert code == 2 and len(lines) == 1
  assert lines[0].startswith('error: no dataset spec at ')
  assert 'shipped: cfpb, taxi, penguins' in lines[0]


def test_an_unknown_key_in_the_spec(tmp_path):
  path = _spec(tmp_path, SPEC + 'colour: blue\n')
  code, lines = _run(tmp_path, '--dataset', path)
  assert code == 2 and len(lines) == 1
  assert "unknown key ('colour' was unexpected)" in lines[0]


def test_a_missing_schema_says_how_to_draft_it(tmp_path):
  path = _spec(tmp_path, schema=False)
  code, lines = _run(tmp_path, '--dataset', path, '--data', path)
  assert code == 2 and len(lines) == 1
  assert 'curated schema is missing' in lines[0]
  assert f'curate-schema --dataset {path}' in lines[0]


def test_a_kind_the_data_contradicts_and_a_missing_column(tmp_path):
  path = _spec(tmp_path)
  data = tmp_path / 'birds.csv'
  data.write_text('wing,colour,kind\n12.5,red,a\nlong,blue,b\n',
                  encoding='utf-8')
  code, lines = _run(tmp_path, '--dataset', path, '--data', str(data))
  assert code == 2 and len(lines) == 1
  assert "column 'wing' is numeric in the spec" in lines[0]
  assert "first: 'long' in row 3" in lines[0]
  data.write_text('wing,kind\n1,a\n2,b\n', encoding='utf-8')
  code, lines = _run(tmp_path, '--dataset', path, '--data', str(data))
  assert code == 2 and len(lines) == 1
  assert "lacks the column(s) 'colour'" in lines[0]
  assert not os.path.exists(tmp_path / 'out' / 'input' / 'span-1')


def test_a_label_of_one_class(tmp_path):
  path = _spec(tmp_path)
  data = tmp_path / 'birds.csv'
  data.write_text('wing,colour,kind\n1,red,a\n2,blue,a\n', encoding='utf-8')
  code, lines = _run(tmp_path, '--dataset', path, '--data', str(data))
  assert code == 2 and len(lines) == 1
  assert 'one class only' in lines[0]


def test_the_loop_on_a_data_set_needs_its_timestamp(tmp_path):
  for args, message in [
      (('--dataset', 'penguins'), 'its spec declares no timestamp column'),
      (('--dataset', 'taxi', '--scenario', 'concept_drift'),
       '--scenario draws CFPB traffic'),
      (('--rounds', '2'), '--data and --rounds go with --dataset')]:
    proc = cli_in_process('loop', '--output', tmp_path / 'out', *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out' / 'input').exists()
