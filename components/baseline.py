"""Resolver strategy: the latest blessed model other than the candidate.

Blessed means blessed by the judge (components/judge.py, `judged` = 1): the
Evaluator's own blessings carry no gate and are not a push decision.

TFX's LatestBlessedModelStrategy returns the candidate itself on a rerun with
unchanged inputs (its cached Trainer output was blessed last time), which
changes the Evaluator's inputs and defeats caching. Run after the Trainer,
this strategy excludes the newest model (the candidate).
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.types import standard_artifacts
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy

from components.judge import JUDGED


class LatestBlessedOtherModelStrategy(
    latest_blessed_model_strategy.LatestBlessedModelStrategy):
  """Latest blessed Model whose id is not the newest Model's id."""

  def resolve_artifacts(
      self, store, input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    input_dict = dict(input_dict)
    for key, artifacts in input_dict.items():
      if artifacts and isinstance(artifacts[0], standard_artifacts.Model):
        newest = max(a.id for a in artifacts)
        input_dict[key] = [a for a in artifacts if a.id != newest]
      elif artifacts and isinstance(artifacts[0],
                                    standard_artifacts.ModelBlessing):
        input_dict[key] = [a for a in artifacts if a.has_custom_property(
            JUDGED) and a.get_int_custom_property(JUDGED) == 1]
    return super().resolve_artifacts(store, input_dict)
