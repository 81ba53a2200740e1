"""Generated-vs-real comparison report (markdown), for docs/data.md.

Compares generated complaints with the real rows in `data/real/`: the product
and response mixes and other marginals (total variation distance), dispute
rates per response, narrative lengths and the share of rows with a narrative.
The reference for the mixes and dispute rates is the real labelled rows
received 2015-01..2017-04 (the period the generator covers); for narrative
lengths, every real narrative.

    python -m data.compare_real --rows 50000 --seed 42 \\
        --out data/REAL_VS_GENERATED.md
"""

import argparse
import sys
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from components.features import LABEL_EXPORT_COLUMN
from data import cli
from data import label_model
from data import metrics
from data import real_stats
from data.cfpb_export import parse_label

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# Marginals compared by total variation distance, with the labelled rows of
# 2015-01..2017-04, except those the generator fits to all real rows.
TV_COLUMNS = ('Product', 'Company response to consumer', 'Issue', 'State',
              'Submitted via', 'Tags', 'Timely response?')
FITTED_TO_ALL_ROWS = ('State',)
_NARRATIVE = 'Consumer complaint narrative'
_RESPONSE = 'Company response to consumer'


def share(values: pd.Series) -> Dict[str, float]:
  """Category -> share of rows."""
  return {str(k): float(v) for k, v in
          values.value_counts(normalize=True, sort=False).items()}


def compare(generated: pd.DataFrame,
            real_rows: Optional[pd.DataFrame] = None) -> Dict:
  """Numbers behind the report.

  Args:
    generated: Generated rows in the export layout.
    real_rows: Real rows as from `real_stats.load_real_rows()` (default).

  Returns:
    A dict with 'tv' (column -> distance), 'products', 'responses',
    'dispute_by_response', 'length_quantiles', 'narrative_share',
    'disputed_rate' and 'best_achievable_auc' (None when the generated rows
    hold a single class) entries.
  """
  real_rows = real_stats.load_real_rows() if real_rows is None else real_rows
  window = real_stats.window_rows(real_rows)
  gen_labels = generated[LABEL_EXPORT_COLUMN].map(parse_label)
  real_labels = window[LABEL_EXPORT_COLUMN].map(parse_label)
  tv = {column: metrics.total_variation_distance(
      share(generated[column]), share(
          (real_rows if column in FITTED_TO_ALL_ROWS else window)[column]))
        for column in TV_COLUMNS}
  dispute_by_response = {}
  for response in sorted(set(generated[_RESPONSE]) | set(window[_RESPONSE])):
    gen = gen_labels[generated[_RESPONSE] == response]
    real = real_labels[window[_RESPONSE] == response]
    dispute_by_response[response] = (
        gen.mean() if len(gen) else np.nan, len(gen),
        real.mean() if len(real) else np.nan, len(real))
  gen_text = generated[_NARRATIVE][generated[_NARRATIVE] != '']
  real_text = real_rows[_NARRATIVE][real_rows[_NARRATIVE] != '']
  probability = label_model.true_probability(generated)
  return {
      'tv': tv,
      'products': (share(generated['Product']), share(window['Product'])),
      'responses': (share(generated[_RESPONSE]), share(window[_RESPONSE])),
      'dispute_by_response': dispute_by_response,
      'length_quantiles': (gen_text.str.len().quantile(QUANTILES).tolist(),
                           real_text.str.len().quantile(QUANTILES).tolist()),
      'narrative_share': (float((generated[_NARRATIVE] != '').mean()),
                          {source: float((group[_NARRATIVE] != '').mean())
                           for source, group in real_rows.groupby('source')}),
      'disputed_rate': (float(gen_labels.mean()), float(real_labels.mean())),
      'best_achievable_auc': (
          metrics.best_achievable_auc(probability, gen_labels.to_numpy())
          if gen_labels.nunique() == 2 else None),
      'companies': (generated['Company'].nunique(),
                    real_rows['Company'].nunique()),
      'sizes': (len(generated), len(window), len(real_text), len(real_rows)),
  }


NOTES = (
    'Notes: the generator aims at a 20% disputed rate (the real 2015-2017 '
    'rows: about 17%), so every response\'s dispute rate is a little higher '
    'than the real one while keeping its order. "Closed with relief" and '
    '"Closed without relief" occur in the real rows only in 2011-2012 and are '
    'therefore not generated for 2015-2017. The share of rows with a '
    'narrative is an assumption (`data.generate.NARRATIVE_SHARE`). The '
    'generator samples the real mixes themselves, so small distances show '
    'that sampling is faithful; the real reference is only a few hundred '
    'rows.')


def markdown_report(result: Dict, command: Optional[str] = None) -> str:
  """The comparison as markdown tables.

  Args:
    result: From `compare`.
    command: The command that produced the generated rows, for the record.

  Returns:
    Markdown text.
  """
  generated_rows, window_rows, narratives, all_rows = result['sizes']
  lines: List[str] = ['# Generated vs. real CFPB complaints', '']
  if command:
    lines += ['Produced by `%s`.' % command, '']
  lines += [
      'Generated: %d rows. Real reference: the %d real labelled rows '
      'received 2015-01..2017-04 (mixes, dispute rates) and all %d real '
      'narratives (lengths), from `data/real/`.' %
      (generated_rows, window_rows, narratives), '',
      '| measure | generated | real |', '|---|---|---|',
      '| disputed rate | %.3f | %.3f |' % result['disputed_rate'],
      '| best achievable AUC (true probability vs. label) | %s | - |' %
      _rate(result['best_achievable_auc']),
  ]
  for column, distance in result['tv'].items():
    lines.append('| total variation distance, %s%s | %.3f | - |' % (
        column, ' (vs. all real rows)' if column in FITTED_TO_ALL_ROWS else '',
        distance))
  lines.append('| distinct companies (real: all %d real rows) | %d | %d |' %
               ((all_rows,) + result['companies']))
  gen_share, real_shares = result['narrative_share']
  lines.append('| share of rows with a narrative | %.3f | not measurable '
               '(samples were picked by narrative presence: %s) |' % (
                   gen_share, ', '.join(
                       '%s %.2f' % (k.replace('.csv', ''), v)
                       for k, v in sorted(real_shares.items()))))
  lines += ['', '## Product mix', '', '| product | generated | real |',
            '|---|---|---|']
  gen, real = result['products']
  for product in sorted(set(gen) | set(real), key=lambda k: -real.get(k, 0)):
    lines.append('| %s | %.3f | %.3f |' %
                 (product, gen.get(product, 0.0), real.get(product, 0.0)))
  lines += ['', '## Company response: mix and dispute rate', '',
            '| response | share generated | share real | disputed generated '
            '| disputed real (rows) |', '|---|---|---|---|---|']
  gen, real = result['responses']
  for response, (g_rate, _, r_rate, r_rows) in sorted(
      result['dispute_by_response'].items(), key=lambda kv: -kv[1][1]):
    lines.append('| %s | %.3f | %.3f | %s | %s (%d) |' % (
        response, gen.get(response, 0.0), real.get(response, 0.0),
        _rate(g_rate), _rate(r_rate), r_rows))
  lines += ['', '## Narrative length (characters, non-empty narratives)', '',
            '| quantile | generated | real |', '|---|---|---|']
  for q, g, r in zip(QUANTILES, *result['length_quantiles']):
    lines.append('| %g%% | %s | %s |' % (100 * q, _length(g), _length(r)))
  lines += ['', NOTES]
  return '\n'.join(lines) + '\n'


def _rate(value: Optional[float]) -> str:
  """'0.123', or '-' for a value that is undefined on these rows."""
  return '-' if value is None or np.isnan(value) else '%.3f' % value


def _length(value: float) -> str:
  """'805', or '-' when there is no narrative to measure (a tiny sample)."""
  return '-' if np.isnan(value) else '%.0f' % value


def main(argv: Optional[List[str]] = None) -> int:
  """The command line; bad arguments get one `error:` line and exit 2."""
  from data import files  # pylint: disable=g-import-not-at-top
  from data import generate  # pylint: disable=g-import-not-at-top
  parser = cli.ArgumentParser(
      prog='python -m data.compare_real',
      description='Compare generated complaints with the real CFPB rows.',
      epilog='example: python -m data.compare_real --rows 50000 --seed 42 '
      '--out data/REAL_VS_GENERATED.md',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--rows', type=cli.checked_int(generate.check_rows),
                      default=50000, help='generated complaints, 1 to %d '
                      '(default 50000)' % generate.MAX_ROWS)
  parser.add_argument('--seed', type=cli.checked_int(generate.check_seed),
                      default=42, help='generator seed (default 42)')
  parser.add_argument('--out', help='also write the markdown to this file')
  args = parser.parse_args(argv)
  try:
    if args.out is not None:  # Before the slow part; '' is an error too.
      files.check_output_file(args.out)
    generated, _ = generate.generate(args.rows, args.seed)
    report = markdown_report(compare(generated), command=(
        'python -m data.compare_real --rows %d --seed %d' %
        (args.rows, args.seed)))
    if args.out is not None:
      files.write_bytes_if_changed(args.out, report.encode('utf-8'))
  except files.OutputError as e:
    return cli.fail(e)
  print(report, end='')
  return 0


if __name__ == '__main__':
  sys.exit(main())
