"""`:explain`: a model's explain signature, answered in KServe V1's shape.

TF Serving has no explain API; KServe's V1 protocol has one,
`POST /v1/models/<name>:explain`, answering predictions and explanations.
This server adds it for the models the pipeline exports
(components/signatures.py): their `explain` signature takes predict_raw's
inputs and returns, beside the probabilities, each raw feature's
attribution to the logit, the baseline they are measured from, the logit
and the part left unattributed (components/attributions.py);
`assets.extra/explain.json` names the feature axis and the classes.

A request is a predict body (row or columnar), checked and run as a
predict of the `explain` signature, so it meets the same input checks,
batching, bounds, metrics and request log; this module decides which
signature a body may name, reads explain.json once per loaded version,
and turns the signature's outputs into the answer:

  {"predictions": [<what :predict answers, row format>],
   "explanations": [{"attributions": {<CSV column>: float, ...},
                     "baseline": float, "logit": float,
                     "approximation_error": float}, ...]}

one explanation per instance; a multi-class model's attributions, baseline
and logit are keyed by class first ({"Adelie": {"island": ...}, ...}).
The server does not import components/ (and with it TensorFlow Transform):
the names below are the ones components/attributions.py exports, which
tests/serving/test_explain.py checks.
"""

import json
import os
import weakref
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from serving import json_output
from serving import status

SIGNATURE = 'explain'
DESCRIPTION_FILE = os.path.join('assets.extra', 'explain.json')
ATTRIBUTIONS = 'attributions'        # [N, F] binary, [N, F, C] multi-class
BASELINE = 'baseline'                # [N] / [N, C]
LOGITS = 'logits'                    # [N] / [N, C]
APPROXIMATION_ERROR = 'approximation_error'  # [N]
EXPLANATION_OUTPUTS = frozenset((ATTRIBUTIONS, BASELINE, LOGITS,
                                 APPROXIMATION_ERROR))


class Plan(NamedTuple):
  """What one loaded version's :explain needs, worked out once."""
  columns: List[str]             # the feature axis, by CSV column name
  classes: Optional[List[str]]   # multi-class: the class axis
  accepted: frozenset            # signature_name values a body may give


# Servable -> Plan; an entry goes with its version when that is unloaded.
_plans = weakref.WeakKeyDictionary()


def signature(servable, requested: str) -> str:
  """The signature an :explain body runs (`explain`), or a ServingError.

  Args:
    servable: the resolved version (serving.servable.Servable).
    requested: the body's signature_name ('' when it names none). A body
      may name `explain` itself or any signature with the same inputs
      (`predict_raw`), so a predict body is sent unchanged; another
      signature gets :predict's error when the model has no such
      signature, else one saying what :explain takes.
  """
  plan = _plan(servable)
  if requested and requested not in plan.accepted:
    if requested not in servable.signature_defs:
      raise status.invalid_argument(
          f'Serving signature name: "{requested}" not found in signature '
          'def')
    raise status.invalid_argument(
        f':explain runs the "{SIGNATURE}" signature, which takes the inputs '
        f'of {_names(plan.accepted - {SIGNATURE}) or "none other"}, not '
        f'those of "{requested}": send those inputs, with signature_name '
        f'{_names(plan.accepted)} or none')
  return SIGNATURE


def _names(signatures) -> str:
  return ' or '.join(f'"{name}"' for name in sorted(signatures))


def _plan(servable) -> Plan:
  found = _plans.get(servable)
  if found is None:
    found = _read_plan(servable)
    _plans[servable] = found
  return found


def _read_plan(servable) -> Plan:
  """The version's explain.json and the signatures sharing explain's
  inputs; errors (not cached) for a model that cannot be explained."""
  what = f'Model {servable.name} version {servable.version}'
  definitions = servable.signature_defs
  if SIGNATURE not in definitions:
    raise status.invalid_argument(
        f'{what} has no "{SIGNATURE}" signature, so it cannot answer '
        ':explain (:predict still works); models exported by the pipeline '
        '(components/signatures.py) carry one')
  path = os.path.join(servable.export_dir, DESCRIPTION_FILE)
  try:
    with open(path, encoding='utf-8') as f:
      described = json.load(f)
  except OSError as e:
    raise status.failed_precondition(
        f'{what} has an "{SIGNATURE}" signature but no readable '
        f'{DESCRIPTION_FILE} naming its features ({e.strerror})') from None
  except ValueError as e:
    raise status.failed_precondition(
        f'{what}: {DESCRIPTION_FILE} is not valid JSON ({e})') from None
  described = described if isinstance(described, dict) else {}
  keys = described.get('features')
  # Exports before explain.json had `columns` name the axis by feature key.
  columns = described.get('columns') or keys
  classes = described.get('classes')
  if not _strings(columns) or (keys is not None and (
      not _strings(keys) or len(keys) != len(columns))):
    raise status.failed_precondition(
        f'{what}: {DESCRIPTION_FILE} names no list of features')
  if classes is not None and not _strings(classes):
    raise status.failed_precondition(
        f'{what}: {DESCRIPTION_FILE}: classes is not a list of names')
  inputs = _inputs(definitions[SIGNATURE])
  accepted = frozenset(name for name, definition in definitions.items()
                       if _inputs(definition) == inputs)
  return Plan(list(columns), classes, accepted)


def _strings(value) -> bool:
  return isinstance(value, list) and bool(value) and all(
      isinstance(v, str) for v in value)


def _inputs(definition) -> Dict[str, int]:
  return {alias: info.dtype for alias, info in definition.inputs.items()}


def response(servable, outputs: Dict[str, np.ndarray]) -> str:
  """The JSON answer of an :explain from the explain signature's outputs.

  `predictions` holds the signature's other outputs (the probabilities) as
  :predict's row format writes them; numbers are formatted as TF Serving
  formats floats.
  """
  plan = _plan(servable)
  missing = sorted(EXPLANATION_OUTPUTS - set(outputs))
  if missing:
    raise status.internal(f'The "{SIGNATURE}" signature of model '
                          f'{servable.name} has no output {missing[0]}')
  predicted = {k: v for k, v in outputs.items()
               if k not in EXPLANATION_OUTPUTS}
  attributions = outputs[ATTRIBUTIONS]
  rows = attributions.shape[0] if attributions.ndim else 0
  if attributions.ndim not in (2, 3) or attributions.shape[1] != len(
      plan.columns):
    raise status.internal(
        f'The "{SIGNATURE}" signature of model {servable.name} answers '
        f'attributions of shape {list(attributions.shape)}; '
        f'{DESCRIPTION_FILE} names {len(plan.columns)} features')
  classes = None
  if attributions.ndim == 3:
    count = attributions.shape[2]
    classes = (plan.classes if plan.classes and len(plan.classes) == count
               else [str(c) for c in range(count)])
  items = [_explanation(plan.columns, classes, attributions[i],
                        outputs[BASELINE][i], outputs[LOGITS][i],
                        outputs[APPROXIMATION_ERROR][i])
           for i in range(rows)]
  return ('{\n    "predictions": ' + json_output.rows(predicted) +
          ',\n    "explanations": [' + ', '.join(items) + ']\n}')


def _explanation(columns, classes, attributions, baseline, logit,
                 error) -> str:
  if classes is None:
    by_feature = _object(columns, attributions)
    baseline_text = json_output.format_float(baseline)
    logit_text = json_output.format_float(logit)
  else:
    by_feature = _object(classes, [_object(columns, attributions[:, c])
                                   for c in range(len(classes))])
    baseline_text = _object(classes, [json_output.format_float(v)
                                      for v in baseline])
    logit_text = _object(classes, [json_output.format_float(v)
                                   for v in logit])
  return ('{"attributions": ' + by_feature + ', "baseline": ' +
          baseline_text + ', "logit": ' + logit_text +
          ', "approximation_error": ' + json_output.format_float(error) +
          '}')


def _object(names, values) -> str:
  """A JSON object of names to values (floats, or JSON text already)."""
  return '{' + ', '.join(
      json.dumps(name, ensure_ascii=False) + ': ' + (
          value if isinstance(value, str) else json_output.format_float(
              value)) for name, value in zip(names, values)) + '}'
