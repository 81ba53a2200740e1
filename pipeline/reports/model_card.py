"""A Markdown model card written inside each pushed model version.

It goes to `<version dir>/assets.extra/model_card.md`: assets.extra is TF
Serving's folder for files that travel with a SavedModel but are not part of
it (the warm-up requests live there), so the card is copied, archived and
rolled back together with the exact model it describes, and neither
tf.saved_model.load nor the model servers read it.
"""

import os
from typing import Any, Dict, List, Sequence, Tuple

from components import features
from components import stack
from pipeline.reports import analysis_text
from pipeline.reports import formatting

CARD_DIR = 'assets.extra'
CARD_FILE = 'model_card.md'
SLICES_PER_FEATURE = 5  # a card is read on one screen: fewer than the report
METRICS = ['example_count', 'auc', 'auc_ci95', 'precision', 'recall',
           'binary_accuracy', 'calibration']
_num = formatting.number



def _vocabulary() -> str:
  """The text vocabulary as the model card names it."""
  if features.TEXT_VOCAB_BY_LABEL:
    return (f'the {features.TEXT_VOCAB_SIZE:,} most informative about the '
            'label')
  return f'{features.TEXT_VOCAB_SIZE:,}-entry vocabulary'

def card_path(version_dir: str) -> str:
  return os.path.join(version_dir, CARD_DIR, CARD_FILE)


def _export_column(key: str) -> str:
  """The CFPB export's name of a raw feature ('state' -> 'State')."""
  for column, feature in features.EXPORT_TO_FEATURE.items():
    if feature == key:
      return column
  return key


def model_inputs() -> str:
  """The model's inputs in words, from the feature lists in features.py."""
  names = [(f'{_export_column(key)} (first {features.ZIP_PREFIX_LENGTH} '
            'digits)' if key == features.ZIP_FEATURE else _export_column(key))
           for key in features.RAW_FEATURES]
  return ', '.join(f'"{name}"' for name in names)


def architecture(hparams: Dict[str, Any]) -> str:
  """The model's shape, as the recorded hyperparameters and features made it."""
  low, high = features.TEXT_NGRAM_RANGE
  text = (f'logistic regression over the multi-hot of the '
          f'{len(features.CATEGORICAL_INPUTS)} categorical features\' values '
          f'(one shared vocabulary of at most '
          f'{features.CATEGORICAL_VOCAB_SIZE:,} `feature=value` tokens) and '
          f'the multi-hot bag of the narrative\'s {low}- to {high}-word '
          f'n-grams ({_vocabulary()}), with an '
          f'L1 penalty of {_num(float(hparams.get("l1", 0.0)))} on the '
          'n-grams')
  hidden = int(float(hparams.get('hidden_units', 0) or 0))
  if hidden:
    text += (f', plus a deep branch: {hidden} ReLU units over the '
             'categoricals and an n-gram embedding bag of dimension '
             f'{int(float(hparams.get("embedding_dim", 0)))}')
  return text + ', sigmoid output'


def _metrics_table(metrics: Dict[str, Dict[str, float]]) -> List[str]:
  """Overall and the largest slices of each slicing feature."""
  lines = ['| slice | ' + ' | '.join(METRICS) + ' |',
           '|---' * (len(METRICS) + 1) + '|']
  for name in formatting.slices_by_count(metrics, SLICES_PER_FEATURE):
    values = metrics.get(name, {})
    lines.append(f'| {name} | ' + ' | '.join(
        _num(values.get(m)) for m in METRICS) + ' |')
  return lines


def _spec_model_line(spec) -> str:
  """What the model predicts from what, in the spec's own words."""
  label = spec.label
  task = (f'multi-class over {", ".join(label.classes)}' if spec.multiclass
          else f'binary, positive value "{label.positive}"')
  kinds = '; '.join(
      f'{kind}: ' + ', '.join(f'"{f.column}"' for f in spec.of_kind(kind))
      for kind in ('categorical', 'numeric', 'text') if spec.of_kind(kind))
  return (f'- {spec.card["purpose"]} Label `{label.key}` (the CSV\'s '
          f'"{label.column}", {task}), from the columns ({kinds}); output '
          f'`{spec.output_key}`.')


def _spec_architecture(hparams: Dict[str, Any], spec) -> str:
  hidden = int(float(hparams.get('hidden_units', 0)))
  return ('a linear model over the multi-hot of the categorical values and '
          "the numeric columns' quantile buckets, plus the numbers "
          'themselves (z-scored, with missing-value indicators)'
          + (', plus the n-gram bags of the text columns'
             if spec.of_kind('text') else '')
          + (f', and a deep branch of {hidden} ReLU units' if hidden else '')
          + (', softmax output' if spec.multiclass else ', sigmoid output')
          + ' (Keras, `components/model_by_kind.py`; trained with early '
          'stopping on a held-out part of the training split)')


def render(trail: Dict[str, Any], model_name: str, output: str,
           sources: Sequence[Tuple[str, bool]] = (), spec=None) -> str:
  """The card's Markdown from a lineage trace (metadata.lineage.trace).

  Args:
    trail: the lineage of the pushed model.
    model_name: the served model's name.
    output: the run's --output folder (for the lineage command it names).
    sources: the export files the span was converted from, each with
      whether it came from data/generate.py (MLMD records only the span).
    spec: the dataset spec of a data set other than CFPB: its prose (the
      card's purpose, intended use and limitations), label and columns
      replace the CFPB text.
  """
  generated = (None if not sources else
               all(is_generated for _, is_generated in sources))
  push, data = trail['push'], trail.get('data', {})
  ev = trail.get('evaluation', {})
  metrics = ev.get('metrics', {})
  overall = metrics.get(formatting.OVERALL, {})
  training, hp = trail['training'], trail['hyperparameters']
  rows = data.get('rows_per_split', {})
  small = sorted(n for n, v in metrics.items()
                 if n != formatting.OVERALL and formatting.is_small(v))
  git = trail['code']['git_now']
  lines = [
      f'# Model card: {model_name}, version {push["version"]}', '',
      'Written by the pipeline from ML Metadata when the model was pushed; '
      f'`python -m pipeline lineage --output {output} --version '
      f'{push["version"]}` shows the full lineage.', '',
      '## Model', '',
      *([_spec_model_line(spec), '- Architecture: ' + _spec_architecture(
          hp['values'], spec) + '; the Transform graph is part of the '
         'SavedModel, so serving applies the same preprocessing as '
         'training.'] if spec else [
      f'- Predicts the probability that a consumer disputes the company\'s '
      f'response to a CFPB complaint (label `{features.LABEL_KEY}`, the '
      f'export\'s "{features.LABEL_EXPORT_COLUMN}"), from the complaint\'s '
      f'{model_inputs()} (output `{features.OUTPUT_KEY}`).',
      '- Architecture: ' + architecture(hp['values']) + ' (Keras, '
      '`components/model.py`); the Transform graph is part of the '
      'SavedModel, so serving applies the same preprocessing as training.']),
      '- Hyperparameters: ' + ', '.join(
          f'{k}={_num(v)}' for k, v in sorted(hp['values'].items())) +
      f' ({hp["source"]}).',
      f'- Training: {training["train_steps"]} steps, evaluated on '
      f'{training["eval_steps"]} batches, in run {trail["run_id"]}.',
      f'- Pushed: {push["pushed_at"]} to `{push["destination"]}`.',
      f'- Code: components fingerprint '
      f'{trail["code"]["code_fingerprint_recorded"]} at training; git '
      f'{git["commit"] or "unavailable"}'
      f'{" with uncommitted changes" if git["dirty"] else ""} when this card '
      'was written.',
      f'- Stack: {stack.summary(training.get("stack"))} (what trained '
      'this model; `python -m components.stack` shows the running one).', '',
      '## Intended use', '',
      *([f'- {spec.card["intended_use"]}', ''] if spec else [
      '- Ranking incoming complaints so that the ones likely to be disputed '
      'get a closer look (a second review, a faster follow-up).',
      '- Not for decisions about an individual consumer, not as evidence '
      'against a company, and not on complaints from after April 2017 '
      'without revalidation (see Limitations).', '']),
      '## Training data', ''] + [
          f'- Span {older.get("span")} (earlier in the rolling window): '
          + (', '.join(f'`{f["path"]}`' for f in older.get('files', []))
             or 'not on disk any more') + '.'
          for older in trail.get('window', [])[:-1]] + [
      f'- Span {data.get("span")}: ' + ', '.join(
          f'`{f["path"]}`' for f in data.get('files', [])) + '.',
      f'- Content sha256: `{data.get("sha256")}`.',
      *[f'- Read with DVC: `{src["path"]}` at revision `{src["rev"]}` '
        f'(commit {src["commit"][:12]}) of `{src["repo"]}`; DVC hash '
        f'`{src["dvc_md5"]}` ({src["dvc_file"]}), sha256 `{src["sha256"]}`.'
        for src in data.get('sources', [])],
      '- Rows per split: ' + ', '.join(f'{k} {v:,}' for k, v in
                                       rows.items()) + '.']
  for path, is_generated in sources:
    lines.append(f'- Converted from: `{path}`' + (
        ', generated by `data/generate.py`.' if is_generated else '.'))
  lines += ['', '## Evaluation', '',
            f'On the eval split ({int(overall.get("example_count", 0)):,} '
            f'{"rows" if spec else "complaints"}), overall and for the largest slices of each '
            'slicing feature:', ''] + _metrics_table(metrics) + [
                '', ('auc is the macro average of the per-class one-vs-rest '
                     'AUCs (TFMA), not meaningful in a slice that lacks a '
                     'class; the judge\'s interval is a paired bootstrap '
                     '(below).' if spec and spec.multiclass else
                     'auc_ci95 is the AUC\'s 95% confidence interval '
                     '(Hanley-McNeil); a slice with one class only has no '
                     'AUC.'), '']
  lines += ['Thresholds the model passed to be blessed:', '']
  lines += [f'- {t["metric"]} on {t["slice"]}: {t["rule"]}'
            for t in ev.get('thresholds', [])]
  baseline = ev.get('baseline')
  if baseline is None:
    lines.append('- Baseline: none (no earlier blessed model), so only the '
                 'absolute threshold applied.')
  else:
    diff = ev.get('diff', {}).get(formatting.OVERALL, {})
    lines.append(f'- Baseline: version {baseline["pushed_version"]} (run '
                 f'{baseline["run_id"]}); AUC change '
                 f'{formatting.signed(diff.get("auc"))}.')
  validation = ev.get('validation', {})
  lines.append(f'- Result: {"passed" if validation.get("ok") else "failed"}.')
  found = ev.get('judgement')
  if found:
    lines.append(f'- Why: {found["reason"]}.')
  lines += [''] + analysis_text.card_lines(trail.get('analysis'))
  if lines[-1] == '':
    lines.pop()
  if spec:
    lines += [
        '', '## Limitations', '', f'- {spec.card["limitations"]}',
        f'- Small slices are noisy: {len(small)} of {len(metrics) - 1} '
        f'slices have fewer than {formatting.SMALL_SLICE} eval examples, so '
        'their metrics vary from run to run; only the overall '
        f'{"macro " if spec.multiclass else ""}AUC is gated.', '']
    return '\n'.join(lines)
  lines += [
      '', '## Limitations', '',
      ('- Generated data: the rows' if generated else
       '- Unless the run was given a real CFPB export (`--data`), the rows')
      + ' are generated by `data/generate.py` from distributions fitted to '
      'about a thousand real labelled complaints: metrics here measure how '
      'well the model recovers the generator\'s label model, not how it '
      'does on real complaints (see `data/REAL_VS_GENERATED.md`).'
      if generated is not False else
      '- Real data, but few rows: the real labelled CFPB exports are small, '
      'so every metric here has a wide margin of error.',
      '- The label, "Consumer disputed?", was collected by the CFPB only '
      'until April 2017: there are no newer real labels to retrain or '
      'monitor on, and products, issues and company responses were renamed '
      'after that date.',
      f'- Small slices are noisy: {len(small)} of {len(metrics) - 1} slices '
      f'have fewer than {formatting.SMALL_SLICE} eval examples, so their '
      'metrics vary '
      'from run to run; only the overall AUC is gated.',
      '- A dispute depends on much that the complaint does not record (the '
      'full exchange with the company, the consumer\'s circumstances): '
      'scores are a prioritization signal, and the calibration '
      f'(overall {_num(overall.get("calibration"))}, 1 is perfect) should '
      'be checked before reading them as probabilities.', '']
  return '\n'.join(lines)


def write(version_dir: str, text: str) -> str:
  """Writes the card once: it describes the model as it was pushed.

  A rerun whose Pusher was cached leaves an existing card alone (the files
  of a version being served are not touched again).
  """
  path = card_path(version_dir)
  if os.path.exists(path):
    return path
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return path
