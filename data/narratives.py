"""Realistic complaint narratives recombined from real sentences.

A generated narrative takes its length from the real length distribution,
its sentences from real narratives of the same product (and, half of the
time when there are enough, of the same issue), its paragraph breaks in the
real proportions and forms (" \\n\\n", " \\n", ...), so it keeps the real
redactions ("XXXX"), amount format ("{$350.00}") and vocabulary. Then some of
`label_model.PHRASES` are inserted: the wording part of the label's signal.
"""

import bisect
from typing import List, Optional, Sequence, Tuple

import numpy as np

from data import label_model
from data.real_stats import Categorical
from data.real_stats import RealTables

# Chance that a narrative gets a raising phrase, a second one, a lowering one.
P_RAISING = 0.35
P_SECOND_RAISING = 0.12
P_LOWERING = 0.3
# Issue pools smaller than this are too repetitive; the product pool is used.
MIN_ISSUE_POOL = 20
_MAX_SENTENCES = 400


class UniformStream:
  """Uniform [0, 1) numbers drawn from `rng` in blocks (fast to consume)."""

  def __init__(self, rng: np.random.Generator, block: int = 1 << 16):
    self._rng = rng
    self._block = block
    self._values: List[float] = []
    self._next = 0

  def next(self) -> float:
    if self._next == len(self._values):
      self._values = self._rng.random(self._block).tolist()
      self._next = 0
    self._next += 1
    return self._values[self._next - 1]

  def pick(self, items: Sequence):
    return items[int(self.next() * len(items))]

  def pick_weighted(self, cumulative: Sequence[float], items: Sequence):
    index = bisect.bisect_right(cumulative, self.next() * cumulative[-1])
    return items[min(index, len(items) - 1)]


class NarrativeWriter:
  """Writes narratives for (product, issue) pairs from the real pools.

  `raising` and `lowering` are the phrases inserted (default: the label
  model's); `length_factor` scales the real target lengths (a scenario's
  longer narratives). The defaults write today's narratives.
  """

  def __init__(self, tables: RealTables, stream: UniformStream,
               raising: Optional[Sequence[label_model.Phrase]] = None,
               lowering: Optional[Sequence[label_model.Phrase]] = None,
               length_factor: float = 1.0):
    if not length_factor > 0:
      raise ValueError('length_factor must be positive, got %r' %
                       length_factor)
    self._tables = tables
    self._stream = stream
    self._raising = tuple(label_model.RAISING_PHRASES if raising is None
                          else raising)
    self._lowering = tuple(label_model.LOWERING_PHRASES if lowering is None
                           else lowering)
    self._length_factor = length_factor
    self._lengths = tables.narrative_lengths.tolist()
    self._break_values, self._break_cumulative = _cumulative(tables.line_breaks)

  def write(self, product: str, issue: str) -> str:
    """One narrative for a complaint about `product` and `issue`."""
    stream = self._stream
    target = stream.pick(self._lengths)
    if self._length_factor != 1.0:
      target *= self._length_factor
    product_pool = (self._tables.sentences_by_product.get(product) or
                    self._tables.all_sentences)
    issue_pool = self._tables.sentences_by_issue.get((product, issue), ())
    if len(issue_pool) < MIN_ISSUE_POOL:
      issue_pool = ()
    sentences: List[str] = []
    length = 0
    while len(sentences) < _MAX_SENTENCES:
      pool = issue_pool if issue_pool and stream.next() < 0.5 else product_pool
      sentence = stream.pick(pool)
      # Stop where the text is closest to the target length.
      if sentences and length + (len(sentence) + 1) / 2.0 > target:
        break
      sentences.append(sentence)
      length += len(sentence) + 1
    self._insert_phrases(sentences)
    return self._join(sentences)

  def _insert_phrases(self, sentences: List[str]) -> None:
    stream = self._stream
    chosen: List[str] = []
    if stream.next() < P_RAISING:
      raising = list(self._raising)
      first = stream.pick(raising)
      chosen.append(first.sentence)
      if stream.next() < P_SECOND_RAISING:
        raising.remove(first)
        chosen.append(stream.pick(raising).sentence)
    if stream.next() < P_LOWERING:
      chosen.append(stream.pick(self._lowering).sentence)
    for sentence in chosen:
      sentences.insert(int(stream.next() * (len(sentences) + 1)), sentence)

  def _join(self, sentences: List[str]) -> str:
    stream = self._stream
    paragraphs = stream.next() < self._tables.paragraph_share
    parts = [sentences[0]]
    for sentence in sentences[1:]:
      if paragraphs and stream.next() < self._tables.break_rate:
        parts.append(stream.pick_weighted(self._break_cumulative,
                                          self._break_values))
      else:
        parts.append(' ')
      parts.append(sentence)
    return ''.join(parts)


def _cumulative(distribution: Categorical) -> Tuple[Tuple, List[float]]:
  return distribution.values, np.cumsum(distribution.probs).tolist()
