"""The known probability model behind the generated "Consumer disputed?" label.

    p = sigmoid(BASE_LOGIT + response + product + timely + channel + tags
                + issue + company + state + words)

Every term is a function of fields written in the generated export, so `p`
(what `true_probability` returns for any export rows) is the Bayes-optimal
score: the only noise is the Bernoulli draw of the label. Comparing a trained
model's AUC with the AUC of `p` shows how much of the learnable signal it
found.

* response, product, timely, channel, tags: explicit tables below. The
  response and product terms follow the real dispute rates of 2015-2017 (see
  data/REAL_VS_GENERATED.md), strengthened so that the task is learnable.
* issue, company, state: a fixed pseudo-random effect per value, uniform in
  +-scale, derived from a SHA-256 hash of the value (stable across runs,
  machines and Python versions; unseen values also get one).
* words: the generator inserts some of the `PHRASES` sentences into
  narratives before drawing the label; each phrase found in a narrative
  (case-insensitive) adds its weight. Real sentences containing a phrase are
  kept out of the generator's sentence pools, so phrases appear only where
  inserted.

Replace these tables to generate data with another signal, or pass a
`LabelModel` (the same terms with other tables) to `logit` and
`true_probability`: `data.scenarios` does so for its concept drift and
reworded narratives. Without one, the tables below are read at each call.
"""

import dataclasses
import hashlib
import types
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

import numpy as np
import pandas as pd

from components import features

BASE_LOGIT = -2.0

RESPONSE_LOGIT: Dict[str, float] = {
    'Closed with explanation': 0.0,
    'Closed with non-monetary relief': -0.75,
    'Closed with monetary relief': -1.05,
    'Closed': 0.45,
    'Closed without relief': 0.35,
    'Closed with relief': -0.9,
    'In progress': -3.0,  # Not closed yet: nothing to dispute.
    'Untimely response': -3.0,  # No response to dispute.
}
PRODUCT_LOGIT: Dict[str, float] = {
    'Mortgage': 0.3,
    'Student loan': 0.35,
    'Consumer Loan': 0.25,
    'Money transfers': 0.2,
    'Bank account or service': 0.05,
    'Credit card': -0.1,
    'Debt collection': -0.1,
    'Credit reporting': -0.45,
    'Prepaid card': -0.6,
    'Payday loan': -0.2,
}
TIMELY_LOGIT: Dict[str, float] = {'No': 0.3}
CHANNEL_LOGIT: Dict[str, float] = {
    'Web': 0.1, 'Fax': 0.3, 'Referral': -0.1, 'Phone': -0.3,
    'Postal mail': -0.3, 'Email': 0.0,
}
TAGS_LOGIT: Dict[str, float] = {
    'Older American': 0.2, 'Servicemember': 0.2,
    'Older American, Servicemember': 0.3,
}
# Half-widths of the hashed per-value effects.
ISSUE_SCALE = 1.2
COMPANY_SCALE = 1.0
STATE_SCALE = 0.15


class Phrase(NamedTuple):
  sentence: str  # What the generator inserts.
  key: str  # What the model looks for (lower case, inside `sentence`).
  logit: float


PHRASES: Tuple[Phrase, ...] = (
    Phrase('This is the second time I have had to file a complaint about '
           'this.', 'this is the second time', 2.0),
    Phrase('They never responded to any of my letters.',
           'they never responded', 2.2),
    Phrase('I was not satisfied with their response.',
           'not satisfied with their response', 2.7),
    Phrase('I am still waiting for them to correct this.',
           'still waiting for them', 1.5),
    Phrase('Nobody there would give me a straight answer.',
           'give me a straight answer', 1.4),
    Phrase('To their credit, they resolved the issue once I called again.',
           'they resolved the issue', -2.7),
    Phrase('Thank you for your help with this matter.',
           'thank you for your help', -2.0),
    Phrase('They apologized and refunded the fees.',
           'apologized and refunded', -2.2),
)
RAISING_PHRASES = tuple(p for p in PHRASES if p.logit > 0)
LOWERING_PHRASES = tuple(p for p in PHRASES if p.logit < 0)


@dataclasses.dataclass(frozen=True)
class LabelModel:
  """The terms of the label model: the module's tables, or others.

  `default_model()` is the one that labels the default generated data; a
  scenario derives its own with `dataclasses.replace`.
  """
  base_logit: float
  response_logit: Mapping[str, float]
  product_logit: Mapping[str, float]
  timely_logit: Mapping[str, float]
  channel_logit: Mapping[str, float]
  tags_logit: Mapping[str, float]
  issue_scale: float
  company_scale: float
  state_scale: float
  phrases: Tuple[Phrase, ...]


def frozen_table(weights: Mapping[str, float]) -> Mapping[str, float]:
  """A read-only copy of a value -> logit table."""
  return types.MappingProxyType(dict(weights))


def default_model() -> LabelModel:
  """The model made of this module's tables, as they are now (read-only)."""
  return LabelModel(
      base_logit=BASE_LOGIT, response_logit=frozen_table(RESPONSE_LOGIT),
      product_logit=frozen_table(PRODUCT_LOGIT),
      timely_logit=frozen_table(TIMELY_LOGIT),
      channel_logit=frozen_table(CHANNEL_LOGIT),
      tags_logit=frozen_table(TAGS_LOGIT),
      issue_scale=ISSUE_SCALE, company_scale=COMPANY_SCALE,
      state_scale=STATE_SCALE, phrases=tuple(PHRASES))


def contains_phrase(text: str) -> bool:
  """True if `text` contains any phrase key (case-insensitive)."""
  lower = text.lower()
  return any(p.key in lower for p in PHRASES)


def word_logit(narratives: pd.Series,
               phrases: Optional[Tuple[Phrase, ...]] = None) -> np.ndarray:
  """Sum of the weights of the phrases (default `PHRASES`) in each narrative."""
  lower = narratives.fillna('').astype(str).str.lower()
  total = np.zeros(len(lower))
  for phrase in PHRASES if phrases is None else phrases:
    total += phrase.logit * lower.str.contains(
        phrase.key, regex=False).to_numpy()
  return total


def hashed_effect(value: str, salt: str, scale: float) -> float:
  """A fixed pseudo-random effect in [-scale, scale]; 0 for empty values."""
  if not value:
    return 0.0
  digest = hashlib.sha256(('%s\0%s' % (salt, value)).encode('utf-8')).digest()
  unit = int.from_bytes(digest[:8], 'big') / 2.0**64
  return scale * (2.0 * unit - 1.0)


def terms(rows: pd.DataFrame,
          model: Optional[LabelModel] = None) -> Dict[str, np.ndarray]:
  """Each term of the log-odds for rows in the CFPB export layout, by the
  feature key it reads (the narrative's phrases under `narrative`): the
  true contribution of each field to each row's logit, which `logit` sums.

  Args:
    rows: Rows with the export's columns.
    model: The terms to use; default: this module's tables.
  """
  model = default_model() if model is None else model

  # Feature keys from components.features; the rows have the export's
  # column names, which also seed the hashed effects (so they never change).
  def column(key: str) -> str:
    return features.FEATURE_TO_EXPORT[key]

  def table(key: str, weights: Mapping[str, float]) -> np.ndarray:
    return rows[column(key)].map(dict(weights)).fillna(0.0).to_numpy(
        dtype=np.float64)

  def hashed(key: str, scale: float) -> np.ndarray:
    name = column(key)
    values = rows[name].fillna('').astype(str)
    effects = {v: hashed_effect(v, name, scale) for v in values.unique()}
    return values.map(effects).to_numpy(dtype=np.float64)

  return {
      features.COMPANY_RESPONSE: table(features.COMPANY_RESPONSE,
                                       model.response_logit),
      features.PRODUCT: table(features.PRODUCT, model.product_logit),
      features.TIMELY_RESPONSE: table(features.TIMELY_RESPONSE,
                                      model.timely_logit),
      features.SUBMITTED_VIA: table(features.SUBMITTED_VIA,
                                    model.channel_logit),
      features.TAGS: table(features.TAGS, model.tags_logit),
      features.ISSUE: hashed(features.ISSUE, model.issue_scale),
      features.COMPANY: hashed(features.COMPANY, model.company_scale),
      features.STATE: hashed(features.STATE, model.state_scale),
      features.NARRATIVE: word_logit(rows[column(features.NARRATIVE)],
                                     model.phrases)}


def logit(rows: pd.DataFrame,
          model: Optional[LabelModel] = None) -> np.ndarray:
  """Log-odds of a dispute for rows in the CFPB export layout: the base
  plus every term of `terms`.

  Args:
    rows: Rows with the export's columns.
    model: The terms to use; default: this module's tables.
  """
  model = default_model() if model is None else model
  total = model.base_logit  # summed in the order the terms are listed,
  for term in terms(rows, model).values():  # as ever: the same floats
    total = total + term
  return total


def true_probability(rows: pd.DataFrame,
                     model: Optional[LabelModel] = None) -> np.ndarray:
  """P(disputed) for export rows, rounded to the 6 decimals written to disk.

  `model` as in `logit`.
  """
  prob = 1.0 / (1.0 + np.exp(-logit(rows, model)))
  return np.clip(np.round(prob, 6), 1e-6, 1.0 - 1e-6)
