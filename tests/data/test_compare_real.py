"""Tests of the generated-vs-real comparison report."""

import os

from data import compare_real
from data import generate


def test_report_tables_and_values():
  export, _ = generate.generate(5000, seed=3)
  result = compare_real.compare(export)
  assert result['tv']['Product'] < 0.1
  assert result['tv']['Company response to consumer'] < 0.1
  assert result['sizes'][1] == 644  # Real labelled rows, 2015-01..2017-04.
  assert result['disputed_rate'][1] == 107 / 644
  real_rate = result['dispute_by_response']['Closed with explanation'][2]
  assert abs(real_rate - 0.181) < 0.001
  report = compare_real.markdown_report(result)
  assert report.startswith('# Generated vs. real CFPB complaints\n')
  assert '| total variation distance, Product | ' in report
  assert '| Closed with explanation | ' in report
  assert '| 50% | ' in report
  table_rows = [line for line in report.splitlines() if line.startswith('|')]
  assert all(line.endswith('|') for line in table_rows)


def test_cli_writes_report_only_when_changed(tmp_path, capsys):
  out = tmp_path / 'report.md'
  assert compare_real.main(['--rows', '2000', '--out', str(out)]) == 0
  printed = capsys.readouterr().out
  assert out.read_text() == printed
  os.utime(out, ns=(10**18, 10**18))
  inode = out.stat().st_ino
  assert compare_real.main(['--rows', '2000', '--out', str(out)]) == 0
  assert out.stat().st_mtime_ns == 10**18 and out.stat().st_ino == inode
