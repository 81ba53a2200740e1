"""Distributions fitted to the real CFPB rows in `data/real/` for the generator.

The generator draws every categorical field from the empirical distribution
of the real rows, so its taxonomy, companies, states and responses are real
ones in real proportions. Tables are fitted once, on first use (reading the
3,087 real rows takes well under a second), and cached; nothing is read at
import. All tables are built in a sorted, deterministic order so a seed gives
the same rows on every run.

Which real rows feed which table:
* Taxonomy (product/sub-product/issue/sub-issue), responses, tags, channels,
  consent, public responses and dispatch delays: the labelled rows received
  2015-01 to 2017-04, the period the generator covers (the CFPB changed its
  product taxonomy on 2017-04-24 and stopped collecting the label then).
* States, ZIP prefixes and companies: all real rows, with the post-2017
  products mapped back to the 2015-2017 names (`OLD_PRODUCT`).
* Narrative sentences, line breaks and lengths: all real narratives.
"""

import dataclasses
import functools
import os
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd

from data import REAL_DATA_DIR
from data import cfpb_export
from data import label_model

REAL_FILES: Tuple[str, ...] = (
    'cfpb_labelled_narratives.csv',
    'cfpb_labelled_no_narrative.csv',
    'cfpb_unlabelled_narratives.csv',
)
WINDOW_START = '2015-01-01'
WINDOW_END = '2017-04-30'

# Post-April-2017 product -> the 2015-2017 product it replaced. Replace when
# adapting to another taxonomy.
OLD_PRODUCT: Dict[str, str] = {
    'Credit reporting, credit repair services, or other personal consumer '
    'reports': 'Credit reporting',
    'Checking or savings account': 'Bank account or service',
    'Credit card or prepaid card': 'Credit card',
    'Vehicle loan or lease': 'Consumer Loan',
    'Money transfer, virtual currency, or money service': 'Money transfers',
    'Payday loan, title loan, or personal loan': 'Consumer Loan',
}
# Sub-products of the merged new products that belong to another old product.
OLD_PRODUCT_BY_SUB_PRODUCT: Dict[str, str] = {
    'General-purpose prepaid card': 'Prepaid card',
    'Gift card': 'Prepaid card',
    'Payroll card': 'Prepaid card',
    'Government benefit card': 'Prepaid card',
    'Payday loan': 'Payday loan',
}

_PARAGRAPH_BREAK = re.compile(r' *(?:\r\n|\n)[\r\n ]*')
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=[A-Z"({])')
_MIN_SENTENCE, _MAX_SENTENCE = 12, 1200


@dataclasses.dataclass(frozen=True)
class Categorical:
  """A categorical distribution over `values`, most frequent first."""
  values: Tuple
  probs: np.ndarray

  @classmethod
  def from_values(cls, values: Sequence) -> 'Categorical':
    counts: Dict = {}
    for value in values:
      counts[value] = counts.get(value, 0) + 1
    if not counts:
      raise ValueError('No values to fit.')
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = float(sum(counts.values()))
    return cls(tuple(k for k, _ in items),
               np.array([c / total for _, c in items]))

  def sample_indices(self, rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.choice(len(self.values), size=size, p=self.probs)

  def as_dict(self) -> Dict:
    return dict(zip(self.values, self.probs))


@dataclasses.dataclass(frozen=True)
class RealTables:
  """Everything the generator draws from, fitted to the real rows."""
  taxonomy: Categorical  # (product, sub-product, issue, sub-issue)
  responses: Categorical
  untimely_rate: Dict[str, float]  # response -> P(Timely response? = No)
  tags: Categorical
  states: Categorical
  zip_prefixes: Dict[str, Categorical]  # state -> 3-digit prefix
  zip_kind_narrative: Categorical  # 'masked' / '5digit' / 'empty'
  zip_kind_other: Categorical
  companies: Dict[str, Categorical]  # old product -> company
  channel_consent: Categorical  # (Submitted via, consent) without narrative
  public_response_narrative: Categorical
  public_response_other: Categorical
  send_delay_days: Categorical
  narrative_lengths: np.ndarray  # characters, all real narratives
  sentences_by_product: Dict[str, Tuple[str, ...]]
  sentences_by_issue: Dict[Tuple[str, str], Tuple[str, ...]]
  all_sentences: Tuple[str, ...]
  line_breaks: Categorical  # separators between paragraphs
  paragraph_share: float  # share of multi-sentence narratives with breaks
  break_rate: float  # P(break) per sentence boundary in those narratives


def old_product(product: str, sub_product: str) -> str:
  """The 2015-2017 product name for a product of either taxonomy."""
  if product in OLD_PRODUCT and sub_product in OLD_PRODUCT_BY_SUB_PRODUCT:
    return OLD_PRODUCT_BY_SUB_PRODUCT[sub_product]
  return OLD_PRODUCT.get(product, product)


def parse_dates(values: pd.Series) -> pd.Series:
  """Dates written 2015-03-23 or 2015/3/23 (both occur in the samples)."""
  parts = values.str.replace('/', '-', regex=False).str.split('-', expand=True)
  parts = parts.astype(int)
  return pd.to_datetime(dict(year=parts[0], month=parts[1], day=parts[2]))


@functools.lru_cache(maxsize=4)
def load_real_rows(real_dir: str = REAL_DATA_DIR) -> pd.DataFrame:
  """All real rows in the export layout plus `source` and `received` columns."""
  frames = []
  for name in REAL_FILES:
    frame = cfpb_export.read_export(os.path.join(real_dir, name))
    frames.append(frame.assign(source=name))
  rows = pd.concat(frames, ignore_index=True)
  rows['received'] = parse_dates(rows['Date received'])
  rows['old_product'] = [
      old_product(p, s) for p, s in zip(rows['Product'], rows['Sub-product'])]
  return rows


def window_rows(rows: pd.DataFrame) -> pd.DataFrame:
  """Labelled rows received in the generator's period."""
  labels = rows[cfpb_export.LABEL_EXPORT_COLUMN].map(cfpb_export.parse_label)
  in_window = rows['received'].between(WINDOW_START, WINDOW_END)
  return rows[labels.notna() & in_window]


@functools.lru_cache(maxsize=4)
def load_tables(real_dir: str = REAL_DATA_DIR) -> RealTables:
  """Fits every generator table to the real rows (cached)."""
  rows = load_real_rows(real_dir)
  window = window_rows(rows)
  narrated = window['Consumer complaint narrative'] != ''
  silent = window[~narrated]
  all_narratives = rows.loc[rows['Consumer complaint narrative'] != '']
  sentences, breaks, paragraph_share, break_rate = _split_narratives(
      all_narratives['Consumer complaint narrative'])
  sentences = pd.Series(sentences, index=all_narratives.index, dtype=object)
  return RealTables(
      taxonomy=Categorical.from_values(list(zip(
          window['Product'], window['Sub-product'], window['Issue'],
          window['Sub-issue']))),
      responses=Categorical.from_values(window['Company response to consumer']),
      untimely_rate=_untimely_rate(rows),
      tags=Categorical.from_values(window['Tags']),
      states=Categorical.from_values(rows['State']),
      zip_prefixes=_zip_prefixes(rows),
      zip_kind_narrative=Categorical.from_values(
          _zip_kinds(window.loc[narrated, 'ZIP code'])),
      zip_kind_other=Categorical.from_values(_zip_kinds(silent['ZIP code'])),
      companies={
          product: Categorical.from_values(group['Company'])
          for product, group in rows.groupby('old_product', sort=True)},
      channel_consent=Categorical.from_values(list(zip(
          silent['Submitted via'], silent['Consumer consent provided?']))),
      public_response_narrative=Categorical.from_values(
          window.loc[narrated, 'Company public response']),
      public_response_other=Categorical.from_values(
          silent['Company public response']),
      send_delay_days=Categorical.from_values(
          (parse_dates(window['Date sent to company']) -
           window['received']).dt.days.clip(lower=0).tolist()),
      narrative_lengths=np.sort(
          all_narratives['Consumer complaint narrative'].str.len().to_numpy()),
      sentences_by_product=_pool(all_narratives, ['old_product'], sentences),
      sentences_by_issue=_pool(
          all_narratives[all_narratives['Product'] ==
                         all_narratives['old_product']],
          ['Product', 'Issue'], sentences),
      all_sentences=tuple(s for group in sentences for s in group),
      line_breaks=Categorical.from_values(breaks),
      paragraph_share=paragraph_share,
      break_rate=break_rate,
  )


def split_sentences(narrative: str) -> Tuple[List[str], List[str]]:
  """Sentences of a narrative and the line-break strings between paragraphs."""
  paragraphs = _PARAGRAPH_BREAK.split(narrative.strip())
  breaks = _PARAGRAPH_BREAK.findall(narrative.strip())
  sentences = [s.strip() for p in paragraphs for s in _SENTENCE_END.split(p)]
  return [s for s in sentences if s], breaks


def _split_narratives(narratives: pd.Series):
  """Sentence lists per narrative, break strings, paragraph statistics."""
  sentences, breaks = [], []
  multi, with_breaks, boundaries = 0, 0, 0
  for narrative in narratives:
    parts, found = split_sentences(narrative)
    breaks.extend(b for b in found if '\r' not in b.replace('\r\n', ''))
    if len(parts) > 1:
      multi += 1
      if found:
        with_breaks += 1
        boundaries += len(parts) - 1
    sentences.append(tuple(
        s for s in parts if _MIN_SENTENCE <= len(s) <= _MAX_SENTENCE and
        not label_model.contains_phrase(s)))
  paragraph_share = with_breaks / max(multi, 1)
  break_rate = min(1.0, len(breaks) / max(boundaries, 1))
  return sentences, breaks, paragraph_share, break_rate


def _pool(narratives: pd.DataFrame, keys: List[str],
          sentences: pd.Series) -> Dict:
  """Sentences grouped by `keys` of the narrative they came from."""
  pools: Dict = {}
  for idx, key_values in zip(narratives.index,
                             narratives[keys].itertuples(index=False)):
    key = key_values[0] if len(keys) == 1 else tuple(key_values)
    pools.setdefault(key, []).extend(sentences[idx])
  return {k: tuple(v) for k, v in sorted(pools.items()) if v}


def _untimely_rate(rows: pd.DataFrame) -> Dict[str, float]:
  """P(Timely response? = No | response), shrunk towards the overall rate."""
  late = rows['Timely response?'].str.strip().str.lower() == 'no'
  overall = late.mean()
  rates = {}
  for response, group in late.groupby(rows['Company response to consumer']):
    rates[response] = float((group.sum() + 20 * overall) / (len(group) + 20))
  rates['Untimely response'] = 1.0  # By definition.
  return rates


def _zip_kinds(zips: pd.Series) -> List[str]:
  kinds = []
  for z in zips:
    if re.fullmatch(r'\d{3}XX', z):
      kinds.append('masked')
    elif z == '':
      kinds.append('empty')
    else:
      kinds.append('5digit')
  return kinds


def _zip_prefixes(rows: pd.DataFrame) -> Dict[str, Categorical]:
  """3-digit ZIP prefixes seen per state (5-digit or masked ZIPs only)."""
  usable = rows[rows['ZIP code'].str.fullmatch(r'\d{5}|\d{3}XX')]
  return {
      state: Categorical.from_values(group['ZIP code'].str[:3])
      for state, group in usable.groupby('State', sort=True)}
