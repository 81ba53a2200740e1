"""Deterministic generator of realistic CFPB complaints, with a known label.

Real labelled complaints are scarce (the CFPB stopped collecting "Consumer
disputed?" in April 2017 and only 1,079 real labelled rows ship here), so the
pipeline trains and benchmarks on generated rows in the exact export layout:

* every categorical field is drawn from distributions fitted to the real rows
  (`data.real_stats`): product/sub-product/issue/sub-issue jointly, companies
  per product (long tail), states and ZIP prefixes, responses, timeliness,
  tags, channels, consent, public responses, dates 2015-01..2017-04;
* narratives recombine real sentences (`data.narratives`) for a share of the
  web complaints received after narratives were first published;
* the label is drawn from `data.label_model`, whose probability depends only
  on the written fields, and is saved per Complaint ID as the Bayes-optimal
  score.

The same rows and seed always give byte-identical files. Usage:

    python -m data.generate --rows 50000 --seed 42 --out work/generated

Change over time, for the feedback loop: `--scenario NAME` applies one of
`data.scenarios.SCENARIOS` (a known drift of the fields or of the label
model; the true probabilities written are those of the label model that drew
the labels), and `--span K` draws span K of a series: span K's Complaint IDs
lie in their own block [FIRST_COMPLAINT_ID + K * SPAN_ID_STRIDE, + the
stride), so successive spans never share an ID (feedback joins on it), and
its rows are other draws of the same seed. Span 0 without a scenario is
today's data, byte for byte; dates stay in 2015-01..2017-04 in every span
(the taxonomy and the label belong to that period).

    python -m data.generate --rows 4000 --span 1 --scenario concept_drift \\
        --out work/generated
"""

import argparse
import datetime
import json
import os
import sys
import textwrap
import time
from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np
import pandas as pd

from components.features import ID_EXPORT_COLUMN
from components.features import LABEL_EXPORT_COLUMN
from data import cli
from data import files
from data import label_model
from data import metrics
from data import narratives
from data import real_stats
from data import scenarios
from data.cfpb_export import EXPORT_COLUMNS

START_DATE = datetime.date(2015, 1, 1)
END_DATE = datetime.date(2017, 4, 30)
# The CFPB published narratives of complaints received from this day on.
NARRATIVES_FROM = datetime.date(2015, 3, 19)
# Share of complaints received since then that come with a narrative. The
# public export has a narrative for roughly a third of 2015-2017 complaints;
# the samples cannot measure it (they were selected by narrative presence).
NARRATIVE_SHARE = 0.4
# Complaint IDs of the real 2015-01..2017-04 complaints span about this range.
FIRST_COMPLAINT_ID = 1170000
LAST_COMPLAINT_ID = 2460000
PROBABILITY_FORMAT = '%.6f'
# Generation holds about 3.6 KB per row in memory (0.7 GB measured at 200,000
# rows), so a million rows need about 3.6 GB; far more would fail on memory
# after minutes of work instead of with a message at once.
MAX_ROWS = 1_000_000
# numpy's seeds are non-negative; 32 bits are plenty and keep file names short.
MAX_SEED = 2**32 - 1
# Span K's Complaint IDs are drawn from [FIRST_COMPLAINT_ID + K * stride,
# FIRST_COMPLAINT_ID + (K + 1) * stride): a span draws from a range of
# max(LAST - FIRST, 2 * rows) <= 2,000,000 IDs, so blocks never overlap, and
# the largest ID (span MAX_SPAN) stays below 2**31.
SPAN_ID_STRIDE = 2_000_000
MAX_SPAN = 999


class GeneratorArgumentError(ValueError):
  """`rows`, `seed`, `span` or `scenario` is not what the generator accepts.

  Raised before anything is generated or written, by `generate` and
  `ensure_generated`, so a command that passes user input through (e.g.
  `python -m pipeline run --rows`) can catch it and print its message.
  """


def check_rows(rows: int) -> None:
  """Raises GeneratorArgumentError unless 1 <= rows <= MAX_ROWS."""
  if not _is_int(rows) or not 1 <= rows <= MAX_ROWS:
    raise GeneratorArgumentError(
        'the number of rows must be a whole number from 1 to %d, got %r' %
        (MAX_ROWS, rows))


def check_seed(seed: int) -> None:
  """Raises GeneratorArgumentError unless 0 <= seed <= MAX_SEED."""
  if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
    raise GeneratorArgumentError(
        'the seed must be a whole number from 0 to %d, got %r' %
        (MAX_SEED, seed))


def check_span(span: int) -> None:
  """Raises GeneratorArgumentError unless 0 <= span <= MAX_SPAN."""
  if not _is_int(span) or not 0 <= span <= MAX_SPAN:
    raise GeneratorArgumentError(
        'the span must be a whole number from 0 to %d, got %r' %
        (MAX_SPAN, span))


ScenarioArg = Union[None, str, scenarios.Scenario]


def check_scenario(scenario: ScenarioArg) -> Optional[scenarios.Scenario]:
  """The scenario named (None for none); GeneratorArgumentError if unknown."""
  try:
    return scenarios.get(scenario)
  except scenarios.UnknownScenarioError as e:
    raise GeneratorArgumentError(str(e)) from None


def span_id_range(span: int) -> Tuple[int, int]:
  """[first, last] Complaint IDs that span `span` may use (whatever rows)."""
  check_span(span)
  first = FIRST_COMPLAINT_ID + span * SPAN_ID_STRIDE
  return first, first + SPAN_ID_STRIDE - 1


def expected_narrated_share() -> float:
  """The expected share of rows with a narrative (received late enough)."""
  total_days = (END_DATE - START_DATE).days + 1
  late_days = (END_DATE - NARRATIVES_FROM).days + 1
  return NARRATIVE_SHARE * late_days / total_days


def _is_int(value) -> bool:
  """True for ints (numpy's too), False for bools, floats and strings."""
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class GeneratedData(NamedTuple):
  """Paths written by `ensure_generated`."""
  export_csv: str
  true_probabilities_csv: str
  written: bool = False  # True if either file was (re)written this time.


def generate(rows: int, seed: int = 42, scenario: ScenarioArg = None,
             span: int = 0) -> Tuple[pd.DataFrame, pd.DataFrame]:
  """Generates complaints in the CFPB export layout.

  Args:
    rows: Number of complaints.
    seed: Seed of the numpy random generators; same seed, same rows.
    scenario: None (or 'none') for today's data, or a name in
      `scenarios.SCENARIOS` (or a `scenarios.Scenario`): the change applied
      to the tables and to the label model.
    span: 0 to MAX_SPAN; span K takes its IDs from `span_id_range(K)` and
      its draws from (seed, K). Span 0 is what the seed alone gives.

  Returns:
    (export, true_probabilities): the complaints with `EXPORT_COLUMNS` (all
    strings, "Consumer disputed?" as Yes/No, sorted by date received), and a
    frame with columns complaint_id (int) and true_probability, row-aligned
    (the probability under the label model that drew the labels: the
    scenario's own).

  Raises:
    GeneratorArgumentError: `rows`, `seed` or `span` is out of range, or the
      scenario is unknown.
  """
  check_rows(rows)
  check_seed(seed)
  check_span(span)
  change = check_scenario(scenario)
  tables = real_stats.load_tables()
  model = None
  writer_options = {}
  if change is not None:
    tables = change.apply_to_tables(tables, expected_narrated_share())
    model = change.dispute_model()
    raising, lowering = change.inserted_phrases()
    writer_options = dict(raising=raising, lowering=lowering,
                          length_factor=change.narrative_length_factor)
  # Span 0 keeps the seed's own stream (today's data); [seed, K] never
  # equals a valid seed's entropy (one 32-bit word).
  root = np.random.SeedSequence(seed if span == 0 else [seed, span])
  field_seed, text_seed, label_seed = root.spawn(3)
  rng = np.random.default_rng(field_seed)
  out = {}

  days = np.sort(rng.integers(0, (END_DATE - START_DATE).days + 1, rows))
  received = np.datetime64(START_DATE.isoformat()) + days
  out['Date received'] = received.astype(str)
  ids = np.sort(rng.choice(max(LAST_COMPLAINT_ID - FIRST_COMPLAINT_ID,
                               2 * rows), size=rows, replace=False))
  complaint_ids = ids + span_id_range(span)[0]
  out[ID_EXPORT_COLUMN] = complaint_ids.astype(str)
  narrated = ((received >= np.datetime64(NARRATIVES_FROM.isoformat())) &
              (rng.random(rows) < NARRATIVE_SHARE))

  taxonomy = _draw(tables.taxonomy, rng, rows)
  for position, column in enumerate(
      ['Product', 'Sub-product', 'Issue', 'Sub-issue']):
    out[column] = np.array([t[position] for t in taxonomy], dtype=object)
  out['Company'] = _draw_grouped(tables.companies, out['Product'], rng)
  out['State'] = _draw(tables.states, rng, rows)
  out['ZIP code'] = _zip_codes(tables, out['State'], narrated, rng)
  out['Tags'] = _draw(tables.tags, rng, rows)

  channel_consent = _draw(tables.channel_consent, rng, rows)
  out['Submitted via'] = np.where(
      narrated, 'Web', [c for c, _ in channel_consent]).astype(object)
  consent = np.array([c for _, c in channel_consent], dtype=object)
  consent[received < np.datetime64(NARRATIVES_FROM.isoformat())] = ''
  consent[narrated] = 'Consent provided'
  out['Consumer consent provided?'] = consent

  responses = _draw(tables.responses, rng, rows)
  out['Company response to consumer'] = responses
  late_rate = np.array([tables.untimely_rate.get(r, 0.0) for r in responses])
  out['Timely response?'] = np.where(
      rng.random(rows) < late_rate, 'No', 'Yes').astype(object)
  out['Company public response'] = np.where(
      narrated, _draw(tables.public_response_narrative, rng, rows),
      _draw(tables.public_response_other, rng, rows)).astype(object)
  delays = np.array(_draw(tables.send_delay_days, rng, rows), dtype=np.int64)
  out['Date sent to company'] = (received + delays).astype(str)

  writer = narratives.NarrativeWriter(
      tables, narratives.UniformStream(np.random.default_rng(text_seed)),
      **writer_options)
  text = np.full(rows, '', dtype=object)
  for i in np.flatnonzero(narrated):
    text[i] = writer.write(out['Product'][i], out['Issue'][i])
  out['Consumer complaint narrative'] = text

  out[LABEL_EXPORT_COLUMN] = np.full(rows, '', dtype=object)
  export = pd.DataFrame(out, columns=EXPORT_COLUMNS)
  probability = label_model.true_probability(export, model)
  disputed = np.random.default_rng(label_seed).random(rows) < probability
  export[LABEL_EXPORT_COLUMN] = np.where(disputed, 'Yes', 'No').astype(object)
  for column in EXPORT_COLUMNS:
    export[column] = export[column].astype(object)
  truth = pd.DataFrame({'complaint_id': complaint_ids,
                        'true_probability': probability})
  return export, truth


def export_csv_bytes(export: pd.DataFrame) -> bytes:
  """The export as CSV bytes: standard quoting, \\n between records, UTF-8."""
  return export.to_csv(index=False, lineterminator='\n').encode('utf-8')


def true_probabilities_csv_bytes(truth: pd.DataFrame) -> bytes:
  return truth.to_csv(index=False, lineterminator='\n',
                      float_format=PROBABILITY_FORMAT).encode('utf-8')


def output_paths(rows: int, seed: int, out_dir: str,
                 scenario: ScenarioArg = None, span: int = 0) -> GeneratedData:
  """Where `ensure_generated` writes the files for these arguments.

  complaints_<rows>_seed<seed>[_span<K>][_<scenario>].csv and
  true_probabilities_<same>.csv; span 0 and no scenario add nothing.
  """
  check_span(span)
  change = check_scenario(scenario)
  stem = '%d_seed%d' % (rows, seed)
  if span:
    stem += '_span%d' % span
  if change is not None:
    stem += '_' + change.name
  return GeneratedData(
      os.path.join(out_dir, 'complaints_%s.csv' % stem),
      os.path.join(out_dir, 'true_probabilities_%s.csv' % stem))


def ensure_generated(rows: int, seed: int, out_dir: str,
                     scenario: ScenarioArg = None,
                     span: int = 0) -> GeneratedData:
  """Makes sure `out_dir` holds the generated files for these arguments.

  The rows are regenerated in memory (seconds for 50,000 rows) and each file
  is written only if its bytes differ, via a temporary file and os.replace:
  identical files keep their modification time (so downstream caches stay
  valid) and damaged or stale files are repaired.

  Args:
    rows: Number of complaints.
    seed: Generator seed.
    out_dir: Directory for the files; created if missing.
    scenario: As in `generate` (None: today's data).
    span: As in `generate`; successive spans have disjoint Complaint IDs.

  Returns:
    The two paths (see `output_paths`), and whether anything was written.

  Raises:
    GeneratorArgumentError: `rows`, `seed` or `span` is out of range or the
      scenario is unknown (nothing is written).
    files.OutputError: `out_dir` cannot be written (existing files stay).
  """
  check_rows(rows)
  check_seed(seed)
  paths = output_paths(rows, seed, out_dir, scenario, span)
  export, truth = generate(rows, seed, scenario, span)
  wrote_export = files.write_bytes_if_changed(
      paths.export_csv, export_csv_bytes(export))
  wrote_truth = files.write_bytes_if_changed(
      paths.true_probabilities_csv, true_probabilities_csv_bytes(truth))
  return paths._replace(written=wrote_export or wrote_truth)


def _draw(distribution: real_stats.Categorical, rng: np.random.Generator,
          size: int) -> np.ndarray:
  values = np.empty(len(distribution.values), dtype=object)
  values[:] = list(distribution.values)
  return values[distribution.sample_indices(rng, size)]


def _draw_grouped(distributions, keys: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
  """Draws from distributions[key] for each row, groups in sorted order."""
  out = np.full(len(keys), '', dtype=object)
  for key in sorted(set(keys)):
    where = np.flatnonzero(keys == key)
    if key in distributions:
      out[where] = _draw(distributions[key], rng, len(where))
  return out


def _zip_codes(tables: real_stats.RealTables, states: np.ndarray,
               narrated: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """ZIPs as published: '606XX', '60614' or '', prefixes real per state."""
  rows = len(states)
  kinds = np.where(narrated, _draw(tables.zip_kind_narrative, rng, rows),
                   _draw(tables.zip_kind_other, rng, rows))
  prefixes = _draw_grouped(tables.zip_prefixes, states, rng)
  suffixes = np.char.zfill(rng.integers(0, 100, rows).astype(str), 2)
  zips = np.where(kinds == 'masked', prefixes + 'XX', prefixes + suffixes)
  zips[(kinds == 'empty') | (prefixes == '')] = ''
  return zips.astype(object)


def main(argv: Optional[List[str]] = None) -> int:
  """The command line; bad arguments get one `error:` line and exit 2."""
  parser = cli.ArgumentParser(
      prog='python -m data.generate',
      description='Write generated CFPB complaints (export layout) and their '
      'true dispute probabilities; files are rewritten only if they change.',
      epilog=_scenario_help() + '\n\nexamples:\n'
      '  python -m data.generate --rows 50000 --seed 42 --out work/generated\n'
      '  python -m data.generate --rows 1000 --out /tmp/small --json\n'
      '  python -m data.generate --rows 4000 --span 1 --scenario '
      'concept_drift --out work/spans',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--rows', type=cli.checked_int(check_rows),
                      default=50000,
                      help='number of complaints, 1 to %d (default 50000)' %
                      MAX_ROWS)
  parser.add_argument('--seed', type=cli.checked_int(check_seed), default=42,
                      help='random seed, 0 to %d (default 42)' % MAX_SEED)
  parser.add_argument('--scenario', type=cli.checked_value(_scenario_name),
                      default=scenarios.NO_SCENARIO, metavar='NAME',
                      help='a change over time, listed below (default %s: '
                      "today's data)" % scenarios.NO_SCENARIO)
  parser.add_argument('--span', type=cli.checked_int(check_span), default=0,
                      help='span number, 0 to %d (default 0); span K has '
                      'Complaint IDs %d + K * %d and up, never those of '
                      'another span' % (MAX_SPAN, FIRST_COMPLAINT_ID,
                                        SPAN_ID_STRIDE))
  parser.add_argument('--out', required=True, help='output directory')
  parser.add_argument('--json', action='store_true',
                      help='print a JSON summary instead of text')
  args = parser.parse_args(argv)
  start = time.perf_counter()
  try:
    files.check_output_dir(args.out)
    result = ensure_generated(args.rows, args.seed, args.out,
                              args.scenario, args.span)
  except files.OutputError as e:
    return cli.fail(e)
  truth = pd.read_csv(result.true_probabilities_csv)
  labels = pd.read_csv(result.export_csv, usecols=[LABEL_EXPORT_COLUMN],
                       dtype=str)[LABEL_EXPORT_COLUMN] == 'Yes'
  best_auc = _best_achievable_auc(truth['true_probability'], labels)
  change = check_scenario(args.scenario)
  summary = {
      'rows': args.rows, 'seed': args.seed,
      'scenario': None if change is None else change.name,
      'scenario_changes': None if change is None else change.stated_changes(),
      'span': args.span,
      'complaint_id_range': list(span_id_range(args.span)),
      'export_csv': result.export_csv,
      'true_probabilities_csv': result.true_probabilities_csv,
      'written': result.written,
      'disputed_rate': round(float(labels.mean()), 4),
      'best_achievable_auc': None if best_auc is None else round(best_auc, 4),
      'seconds': round(time.perf_counter() - start, 2),
  }
  if args.json:
    print(json.dumps(summary))
  else:
    print('%(rows)d complaints (seed %(seed)d%(change)s), disputed rate '
          '%(disputed_rate).3f, best achievable AUC %(auc)s'
          ' in %(seconds).1fs\n  %(export_csv)s\n  %(true_probabilities_csv)s'
          '\n  %(state)s' % dict(
              summary, auc='-' if best_auc is None else '%.3f' % best_auc,
              change=''.join(
                  [', span %d' % args.span if args.span else '',
                   ', scenario %s' % summary['scenario']
                   if summary['scenario'] else '']),
              state='written' if result.written
              else 'unchanged (already up to date)'))
  return 0


def _scenario_name(name: str) -> str:
  """`name` if it names a scenario (or none); ValueError with the list."""
  check_scenario(name)
  return name


def _scenario_help() -> str:
  """The scenarios, one line each, for the --help epilog."""
  width = max(len(name) for name in scenarios.SCENARIOS)
  lines = ['scenarios (--scenario NAME; see data/scenarios.py):',
           '  %-*s  no change (default)' % (width, scenarios.NO_SCENARIO)]
  for name, scenario in scenarios.SCENARIOS.items():
    lines.extend(textwrap.wrap(
        scenario.summary, 79, initial_indent='  %-*s  ' % (width, name),
        subsequent_indent=' ' * (width + 4)))
  return '\n'.join(lines)


def _best_achievable_auc(true_probability, labels) -> Optional[float]:
  """The AUC ceiling, or None when the rows hold one class only.

  A few rows can all be disputed or all not; the AUC is then undefined, which
  is a fact about the sample, not an error of the command.
  """
  if labels.nunique() < 2:
    return None
  return metrics.best_achievable_auc(true_probability, labels)


if __name__ == '__main__':
  sys.exit(main())
