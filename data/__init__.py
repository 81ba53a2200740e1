"""Data for the CFPB consumer-disputed pipeline.

* `data.cfpb_export` reads real CFPB exports (`complaints.csv` from the CFPB
  site, or the real sample rows in `data/real/`) and turns them into the
  pipeline's input CSV.
* `data.generate` writes realistic synthetic complaints in the same export
  layout, with labels drawn from a known probability model, so the pipeline
  can be trained and benchmarked at any size (the real labelled rows are few:
  the CFPB stopped collecting "Consumer disputed?" in April 2017). It draws
  on `data.real_stats` (tables fitted to the real rows), `data.narratives`
  (narratives from real sentences) and `data.label_model` (the label's
  probability model). `data.scenarios` holds its named drifts (product and
  channel mix, a new company response, reworded narratives, concept drift)
  for the feedback loop: `python -m data.generate --scenario NAME --span K`.
* `data.compare_real` measures how close the generated rows are to the real
  ones; `data.metrics` holds the numpy ROC AUC and distances it uses;
  `data.files` the atomic write-if-changed helper and output checks;
  `data.cli` the commands' one-line `error:` messages (exit 2).

Nothing here runs at import time; the real rows are read only when a table
fitted to them is first needed.
"""

import os

# The real CFPB rows shipped with the project (see data/real/README.md).
REAL_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'real')
