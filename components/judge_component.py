"""The judge as a TFX component: reads the Evaluator's inputs, blesses.

Kept apart from components/judge.py, whose functions need no TFX, so they
are tested directly.
"""

import json
import os

from components import judge
from components import tfx_api


@tfx_api.component
def BaselineJudge(  # pylint: disable=invalid-name
    examples: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.Examples],
    model: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.Model],
    blessing: tfx_api.OutputArtifact[
        tfx_api.standard_artifacts.ModelBlessing],
    baseline_model: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.Model] = None,
    min_auc: tfx_api.Parameter[float] = 0.65,
    significance: tfx_api.Parameter[float] = 0.05,
    max_auc_regression: tfx_api.Parameter[float] = 0.0,
    label_key: tfx_api.Parameter[str] = '',
    output_key: tfx_api.Parameter[str] = '',
    classes: tfx_api.Parameter[str] = '') -> None:
  """Blesses the candidate unless it fails the gate or is significantly
  worse than the baseline; the numbers and the rule go to judgement.json.

  label_key, output_key: the dataset spec's (the pipeline always sets
  them); classes: a multi-class label's class names as a JSON list (''
  for a binary label)."""
  if not label_key or not output_key:
    raise ValueError('BaselineJudge needs label_key and output_key: the '
                     "dataset spec's label key and model output")
  found = judge.judge(examples.uri, model.uri,
                      baseline_model.uri if baseline_model else None,
                      min_auc, significance, max_auc_regression,
                      label_key=label_key, output_key=output_key,
                      classes=json.loads(classes) if classes else ())
  found['baseline_model_id'] = baseline_model.id if baseline_model else None
  os.makedirs(blessing.uri, exist_ok=True)
  with open(os.path.join(blessing.uri, judge.JUDGEMENT_FILE), 'w',
            encoding='utf-8') as f:
    json.dump(found, f, indent=1)
  marker = 'BLESSED' if found['blessed'] else 'NOT_BLESSED'
  open(os.path.join(blessing.uri, marker), 'w').close()
  # What the Pusher and LatestBlessedModelStrategy read.
  blessing.set_int_custom_property('blessed', int(found['blessed']))
  blessing.set_int_custom_property('current_model_id', model.id)
  blessing.set_string_custom_property('current_model', model.uri)
  blessing.set_int_custom_property(judge.JUDGED, 1)
  if baseline_model:
    blessing.set_int_custom_property('baseline_model_id', baseline_model.id)
    blessing.set_string_custom_property('baseline_model', baseline_model.uri)
