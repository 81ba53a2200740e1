"""The names of the model's layers that other modules read weights from.

Both models (components/model.py, components/model_by_kind.py) name their
wide layers so; the attributions (components/attributions.py) read the
weights of exactly these layers. A module of its own so that neither side
imports the other (the Trainer's run_fn exports the attributions).
"""

from components import features

# The wide part over the categorical multi-hot; its bias is the model's.
WIDE_CATEGORICAL = 'wide_categorical'
WIDE_NUMERIC = 'wide_numeric'   # over the z-scores and missing indicators
DEEP = 'deep'                   # the deep branch's output layer


def wide_text(key: str) -> str:
  """The wide part's layer over a text column's n-gram bag (the CFPB
  narrative's keeps the name it always had)."""
  return 'wide_text' if key == features.TEXT_FEATURE else f'wide_text_{key}'
