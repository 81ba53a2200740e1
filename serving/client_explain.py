"""`python -m serving.client ... --explain`: a prediction with its reasons.

The prediction's body goes to the server's `:explain` instead of
`:predict` (REST only: the verb is this server's extension, from KServe's
V1 protocol; TF Serving has it on neither API). The answer carries the
prediction and, per instance, each raw feature's attribution to the logit,
keyed by the CSV's column names (by class first for a multi-class model),
the baseline they are measured from and the part left unattributed. A
person reads the largest attributions, one line each, under the equation
they make up; the JSON line keeps them all.
"""

import time
from typing import Any, Dict, List, Mapping, Tuple

from serving.client_inputs import RAW_SIGNATURE, to_features
from serving.client_types import Prediction

TOP = 5  # Attributions printed per instance (and class); the JSON has all.


def explain_complaint(client, complaint: Mapping[str, Any]
                      ) -> Tuple[Prediction, Dict[str, Any]]:
  """(the prediction, its explanation) of one complaint (export columns)
  over REST (client: a serving.client_rest.RestClient)."""
  started = time.perf_counter()
  version = client.model_version()
  payload = client.explain_json({'signature_name': RAW_SIGNATURE,
                                 'instances': [to_features(complaint)]})
  first = payload['predictions'][0]
  probability = float(first[0] if isinstance(first, list) else first)
  return (Prediction(probability, version, client.model_name, 'rest',
                     (time.perf_counter() - started) * 1e3),
          payload['explanations'][0])


def render(explanation: Mapping[str, Any], top: int = TOP) -> List[str]:
  """The lines a person reads: the logit as the baseline plus the sum of
  the attributions, then the `top` largest by magnitude (per class for a
  multi-class model)."""
  attributions = explanation['attributions']
  lines = []
  if any(isinstance(v, dict) for v in attributions.values()):
    for name, by_feature in attributions.items():
      lines += _equation(f'{name}: ', by_feature,
                         explanation['baseline'][name],
                         explanation['logit'][name], top)
  else:
    lines = _equation('', attributions, explanation['baseline'],
                      explanation['logit'], top)
  error = explanation.get('approximation_error') or 0.0
  if error:
    lines.append(f'  approximation error {error:.4g} (the logit left '
                 'unattributed: a deep branch)')
  return lines


def _equation(head: str, by_feature: Mapping[str, float], baseline: float,
              logit: float, top: int) -> List[str]:
  ranked = sorted(by_feature.items(), key=lambda item: -abs(item[1]))
  lines = [f'  {head}logit {logit:+.4f} = baseline {baseline:+.4f} + '
           f'attributions {sum(by_feature.values()):+.4f}; largest:']
  lines += [f'    {value:+.4f}  {name}' for name, value in ranked[:top]]
  if len(ranked) > top:
    lines.append(f'    ({len(ranked) - top} more in the JSON line)')
  return lines
