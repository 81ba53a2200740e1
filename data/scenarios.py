"""Named scenarios of change over time, with known effects, for the generator.

The feedback loop (train, serve, monitor, feed labels back, retrain) has to
be shown and tested on data whose drift is known exactly. A scenario is a
small frozen description of one change, applied to the generator's tables
(`real_stats.RealTables`, what the fields are drawn from) and to its label
model (`label_model.LabelModel`, what the dispute label is drawn from):

    python -m data.generate --rows 4000 --scenario concept_drift --span 2 ...

Every number a scenario changes is stated in its fields, so a test (or the
scenario table of docs/monitoring.md) can say what must change and by how
much without running it:

* `product_shares` / `channel_shares`: the share of ALL rows that named
  products / "Submitted via" values get; the other values keep their
  proportions to one another and fill the rest. A product keeps its real
  sub-products, issues and companies. Narratives are written only for web
  complaints, so "Web" cannot be named: the named channels are reached by
  reweighting the rows without a narrative, and "Web", "Postal mail" and
  "Fax" shrink in proportion among those rows.
* `new_response` / `new_response_share`: a "Company response to consumer"
  value the default generator never writes, in that share of rows; every
  other response keeps its share times (1 - new_response_share). Its
  "Timely response?" follows that response's real untimely rate.
* `reworded_phrases`: the label model's dispute phrases in other words, the
  same weights, index for index with `label_model.PHRASES`. The generator
  inserts only the new wording; the scenario's label model reads both (what
  a consumer means drives a dispute, not the words chosen), so on default
  rows it gives the default probabilities.
* `narrative_length_factor`: each narrative's target length is the real
  length drawn times this factor.
* `response_logit` / `product_logit`: label model terms replaced (concept
  drift); the fields are drawn exactly as without the scenario.

The scenario changes nothing else: the generator's random streams are the
same as without it, so untouched fields keep their distribution (most are
even the same values for the same seed and span). Add a scenario by adding
a `Scenario` to `SCENARIOS`.
"""

import dataclasses
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np

from data import label_model
from data import real_stats

# What `--scenario` takes for "no scenario": today's data, byte for byte.
NO_SCENARIO = 'none'

Shares = Tuple[Tuple[str, float], ...]


class UnknownScenarioError(ValueError):
  """A scenario name that is not in `SCENARIOS`."""


@dataclasses.dataclass(frozen=True)
class Scenario:
  """One named change; see the module docstring for what each field does."""
  name: str
  summary: str  # One line, for --help and reports.
  product_shares: Shares = ()
  channel_shares: Shares = ()
  new_response: str = ''
  new_response_share: float = 0.0
  reworded_phrases: Tuple[label_model.Phrase, ...] = ()
  narrative_length_factor: float = 1.0
  response_logit: Shares = ()
  product_logit: Shares = ()

  def __post_init__(self):
    for field, shares in (('product_shares', self.product_shares),
                          ('channel_shares', self.channel_shares)):
      values = [value for value, _ in shares]
      if len(set(values)) != len(values):
        raise ValueError('%s: %s names a value twice' % (self.name, field))
      if not all(0 < share < 1 for _, share in shares) or (
          sum(share for _, share in shares) >= 1):
        raise ValueError('%s: %s must be shares in (0, 1) summing below 1' %
                         (self.name, field))
    if 'Web' in dict(self.channel_shares):
      raise ValueError('%s: "Web" cannot be set (narrated complaints are '
                       'web complaints); set the other channels' % self.name)
    if bool(self.new_response) != (0 < self.new_response_share < 1):
      raise ValueError('%s: new_response needs a share in (0, 1)' % self.name)
    if self.reworded_phrases and len(self.reworded_phrases) != len(
        label_model.PHRASES):
      raise ValueError('%s: reword every phrase of label_model.PHRASES' %
                       self.name)
    for old, new in zip(label_model.PHRASES, self.reworded_phrases):
      if new.logit != old.logit or new.key not in new.sentence.lower() or (
          label_model.contains_phrase(new.sentence)):
        raise ValueError('%s: %r must keep the weight of %r, contain its own '
                         'key and none of the old ones' %
                         (self.name, new.sentence, old.sentence))
    if not self.narrative_length_factor > 0:
      raise ValueError('%s: narrative_length_factor must be positive' %
                       self.name)

  def apply_to_tables(self, tables: real_stats.RealTables,
                      narrated_share: float) -> real_stats.RealTables:
    """The generator's tables with this scenario's changes.

    Args:
      tables: The default tables (`real_stats.load_tables()`).
      narrated_share: The expected share of rows with a narrative (all of
        them "Web"); `channel_shares` are shares of all rows.

    Raises:
      ValueError: a named product is not in the taxonomy, a named channel is
        not a channel, the new response is one the tables already hold, or
        the channel shares leave no room for the narrated web complaints.
    """
    changes = {}
    if self.product_shares:
      changes['taxonomy'] = _reweighted(
          tables.taxonomy, lambda value: value[0], dict(self.product_shares),
          1.0, 'product')
    if self.channel_shares:
      if sum(s for _, s in self.channel_shares) >= 1 - narrated_share:
        raise ValueError('%s: channel shares leave no room for the %.3f '
                         'narrated web complaints' % (self.name,
                                                      narrated_share))
      changes['channel_consent'] = _reweighted(
          tables.channel_consent, lambda value: value[0],
          dict(self.channel_shares), 1 - narrated_share, 'channel')
    if self.new_response:
      if self.new_response in tables.responses.values:
        raise ValueError('%s: %r is not new, the generator writes it' %
                         (self.name, self.new_response))
      changes['responses'] = real_stats.Categorical(
          tables.responses.values + (self.new_response,),
          np.append(tables.responses.probs * (1 - self.new_response_share),
                    self.new_response_share))
    return dataclasses.replace(tables, **changes)

  def dispute_model(self) -> label_model.LabelModel:
    """The label model that draws this scenario's labels."""
    model = label_model.default_model()
    return dataclasses.replace(
        model,
        response_logit=label_model.frozen_table(
            dict(model.response_logit, **dict(self.response_logit))),
        product_logit=label_model.frozen_table(
            dict(model.product_logit, **dict(self.product_logit))),
        phrases=model.phrases + tuple(self.reworded_phrases))

  def inserted_phrases(self) -> Tuple[Tuple[label_model.Phrase, ...],
                                      Tuple[label_model.Phrase, ...]]:
    """(raising, lowering) phrases the narratives get."""
    phrases = self.reworded_phrases or label_model.PHRASES
    return (tuple(p for p in phrases if p.logit > 0),
            tuple(p for p in phrases if p.logit < 0))

  def stated_changes(self) -> Dict[str, object]:
    """The scenario's numbers, JSON-ready (for summaries and reports)."""
    out: Dict[str, object] = {'name': self.name, 'summary': self.summary}
    if self.product_shares:
      out['product_shares'] = dict(self.product_shares)
    if self.channel_shares:
      out['channel_shares'] = dict(self.channel_shares)
    if self.new_response:
      out['new_response'] = {self.new_response: self.new_response_share}
    if self.reworded_phrases:
      out['reworded_phrases'] = {
          old.sentence: new.sentence
          for old, new in zip(label_model.PHRASES, self.reworded_phrases)}
    if self.narrative_length_factor != 1.0:
      out['narrative_length_factor'] = self.narrative_length_factor
    if self.response_logit:
      out['response_logit'] = dict(self.response_logit)
    if self.product_logit:
      out['product_logit'] = dict(self.product_logit)
    return out


def _reweighted(distribution: real_stats.Categorical, key, targets: Mapping,
                total: float, what: str) -> real_stats.Categorical:
  """`distribution` with key(value) in `targets` at target/total in all.

  Values whose key is not named keep their proportions to one another.
  Value order (and so the random draws consumed) stays the same.
  """
  keys = [key(value) for value in distribution.values]
  unknown = sorted(set(targets) - set(keys))
  if unknown:
    raise ValueError('no %s %s in the tables' % (what, ', '.join(unknown)))
  before: Dict[str, float] = {}
  for k, p in zip(keys, distribution.probs):
    before[k] = before.get(k, 0.0) + p
  named_before = sum(before[k] for k in targets)
  rest = (1.0 - sum(targets.values()) / total) / (1.0 - named_before)
  scale = np.array([targets[k] / total / before[k] if k in targets else rest
                    for k in keys])
  probs = distribution.probs * scale
  return real_stats.Categorical(distribution.values, probs / probs.sum())


# The dispute phrases in other words (same order and weights as PHRASES);
# no real narrative contains any of these keys (tested).
_REWORDED = tuple(
    label_model.Phrase(sentence, key, old.logit)
    for old, (sentence, key) in zip(label_model.PHRASES, (
        ('I already complained about this once before and nothing '
         'changed.', 'already complained about this once before'),
        ('Not one of my letters ever got an answer.', 'ever got an answer'),
        ('Their reply did not resolve anything for me.',
         'their reply did not resolve anything'),
        ('Months later the error is still on my account.',
         'the error is still on my account'),
        ('Every representative told me something different.',
         'every representative told me something different'),
        ('When I called back, the matter was finally fixed.',
         'the matter was finally fixed'),
        ('I appreciate the CFPB looking into this.',
         'appreciate the cfpb looking into this'),
        ('The fees were returned to my account with an apology.',
         'returned to my account with an apology'),
    )))

_PRODUCT_SHARES: Shares = (('Credit reporting', 0.40), ('Student loan', 0.15))
_CHANNEL_SHARES: Shares = (('Referral', 0.30), ('Phone', 0.15))

SCENARIOS: Dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        name='product_shift',
        summary='Credit reporting 20.5% -> 40% and Student loan 4.0% -> 15% '
        'of complaints; other products shrink in proportion',
        product_shares=_PRODUCT_SHARES),
    Scenario(
        name='channel_shift',
        summary='Submitted via Referral 12.5% -> 30% and Phone 6.4% -> 15% '
        'of complaints; Web (75% -> 52%), Postal mail and Fax shrink',
        channel_shares=_CHANNEL_SHARES),
    Scenario(
        name='product_channel_shift',
        summary='product_shift and channel_shift together',
        product_shares=_PRODUCT_SHARES, channel_shares=_CHANNEL_SHARES),
    Scenario(
        name='new_response',
        summary='company response "Closed without relief" (never generated '
        'otherwise) in 15% of complaints; the others x 0.85',
        new_response='Closed without relief', new_response_share=0.15),
    Scenario(
        name='narrative_wording',
        summary='the 8 dispute phrases reworded (same weights) and '
        'narratives 1.5x as long; the label model is otherwise unchanged',
        reworded_phrases=_REWORDED, narrative_length_factor=1.5),
    Scenario(
        name='concept_drift',
        summary='the label model changes, the fields do not: monetary relief '
        '-1.05 -> +0.8, non-monetary -0.75 -> +0.5, Credit reporting -0.45 '
        '-> +0.6, Mortgage +0.3 -> -0.5 (log-odds)',
        response_logit=(('Closed with monetary relief', 0.8),
                        ('Closed with non-monetary relief', 0.5)),
        product_logit=(('Credit reporting', 0.6), ('Mortgage', -0.5))),
)}


def get(scenario: Union[None, str, Scenario]) -> Optional[Scenario]:
  """The scenario for a name (None or 'none': no scenario), or itself.

  Raises:
    UnknownScenarioError: the name is not in SCENARIOS.
  """
  if scenario is None or isinstance(scenario, Scenario):
    return scenario
  if scenario == NO_SCENARIO:
    return None
  if scenario not in SCENARIOS:
    raise UnknownScenarioError('unknown scenario %r; choose from %s' % (
        scenario, ', '.join((NO_SCENARIO,) + tuple(SCENARIOS))))
  return SCENARIOS[scenario]
