"""The single source of the names the project shares.

Features, the label, the join key, the serving signatures with their inputs
and output, and TF Serving's warm-up file: every other module (data
conversion, preprocessing, the model, the evaluator's slices, the model card,
the serving client and server) takes its names from here, so a name is
changed in one place. Replace with your own features when adapting the
pipeline to another data set.
"""

import os
from typing import Dict, List

# Raw feature keys of the pipeline's input CSV (snake_case, see below).
PRODUCT = 'product'
SUB_PRODUCT = 'sub_product'
ISSUE = 'issue'
SUB_ISSUE = 'sub_issue'
NARRATIVE = 'narrative'
COMPANY = 'company'
STATE = 'state'
ZIP_CODE = 'zip_code'
TAGS = 'tags'
SUBMITTED_VIA = 'submitted_via'
COMPANY_RESPONSE = 'company_response'
TIMELY_RESPONSE = 'timely_response'

# Column of the CFPB export -> raw feature key in the pipeline's input CSV.
# The export's headers have spaces and punctuation ("Consumer disputed?"),
# which are not valid TensorFlow signature names, hence the snake_case keys.
EXPORT_TO_FEATURE: Dict[str, str] = {
    'Product': PRODUCT,
    'Sub-product': SUB_PRODUCT,
    'Issue': ISSUE,
    'Sub-issue': SUB_ISSUE,
    'Consumer complaint narrative': NARRATIVE,
    'Company': COMPANY,
    'State': STATE,
    'ZIP code': ZIP_CODE,
    'Tags': TAGS,
    'Submitted via': SUBMITTED_VIA,
    'Company response to consumer': COMPANY_RESPONSE,
    'Timely response?': TIMELY_RESPONSE,
}
FEATURE_TO_EXPORT: Dict[str, str] = {
    key: column for column, key in EXPORT_TO_FEATURE.items()}

# The label: 1 when the consumer disputed the company's response.
LABEL_EXPORT_COLUMN = 'Consumer disputed?'
LABEL_KEY = 'consumer_disputed'

# Kept in the pipeline input to join predictions with the generator's true
# probabilities; never a model input.
ID_EXPORT_COLUMN = 'Complaint ID'
ID_KEY = 'complaint_id'

# Categorical features (strings). Each value becomes the token
# "<feature>=<value>" in one vocabulary shared by all of them: Transform runs
# a Beam pass per vocabulary, and one shared pass instead of eleven halved its
# time. Replace with your own features.
CATEGORICAL_FEATURES: List[str] = [
    PRODUCT, SUB_PRODUCT, ISSUE, SUB_ISSUE, COMPANY, STATE, TAGS,
    SUBMITTED_VIA, COMPANY_RESPONSE, TIMELY_RESPONSE,
]
# The ZIP code is published masked ("606XX"); only its 3-digit prefix is kept,
# as one more categorical.
ZIP_FEATURE = ZIP_CODE
ZIP_PREFIX_LENGTH = 3
# What the shared vocabulary is built from, in the column order of its output.
CATEGORICAL_INPUTS: List[str] = CATEGORICAL_FEATURES + [ZIP_FEATURE]
CATEGORICAL_XF = 'categorical_xf'
CATEGORICAL_VOCAB = 'categorical_vocab'
# Tokens kept, most frequent first (50,000 generated rows have 1,248);
# rarer and unseen values hash into the OOV buckets.
CATEGORICAL_VOCAB_SIZE = 5000
OOV_BUCKETS = 4

# The free-text narrative becomes a bag of word n-grams: single words, word
# pairs and triples ("not satisfied with", "they never responded" carry
# what single words do not), mapped through a TFT vocabulary: the most
# frequent, or with TEXT_VOCAB_BY_LABEL those most informative about the
# label (mutual information on the training split; transform.text_ngram_ids). Triples over pairs:
# +0.006 eval AUC on 4,000 generated complaints, +0.002 on 15,000 (mean of 3
# seeds; make bench-small-data). 300 informative n-grams rather than the
# 10,000 most frequent: on 4,000 generated complaints the mean AUC gap to
# the reference model fell from 0.028 to 0.020 (1,000: 0.023; 3,000: 0.025),
# measured by retraining on the same Transform outputs; in the pipeline
# (benchmarks/results/small_data.json) 0.024 -> 0.022 at 4k rows and
# 0.018 -> 0.014 at 15k.
TEXT_FEATURE = NARRATIVE
TEXT_NGRAM_RANGE = (1, 3)
# Off by default: on the Beam worker pools (deploy/beam, the portable
# runner) the supervised vocabulary's Transform job hung (its workers lost
# the runner, tests/deploy/test_beam_workers.py); in process it works and
# measured better (the figures above). On: 300 n-grams by mutual
# information; off: the 10,000 most frequent.
TEXT_VOCAB_BY_LABEL = False
TEXT_VOCAB_SIZE = 300 if TEXT_VOCAB_BY_LABEL else 10000
TEXT_OOV_BUCKETS = 1
# Words read per narrative: bounds the cost of a pathological input while
# keeping whole real narratives (the longest bundled real one has 4,319).
TEXT_MAX_TOKENS = 5000

# Rows per training batch: the Trainer's and the Tuner's, and what
# pipeline.config turns epochs into train steps with.
BATCH_SIZE = 128

# Raw features the model reads (all strings), in a stable order.
RAW_FEATURES: List[str] = CATEGORICAL_INPUTS + [TEXT_FEATURE]

# Slices reported by the Evaluator.
SLICE_FEATURES: List[str] = [PRODUCT, STATE, COMPANY_RESPONSE]


def transformed_name(key: str) -> str:
  """Name of a feature after Transform (keeps raw and transformed apart)."""
  return key + '_xf'


def vocabulary_name(key: str) -> str:
  """Name of the TFT vocabulary file for a feature."""
  return key + '_vocab'

# Explicit token for a missing categorical value (empty in the CSV), so that
# "missing" is a learned category rather than silently an OOV bucket.
MISSING_TOKEN = '(missing)'

# Serving: the SavedModel's signatures, their inputs and their output.
# `serving_default` takes serialized tf.Examples (TF Serving's convention for
# a Predict over gRPC); `predict_raw` one string tensor per raw feature.
EXAMPLES_SIGNATURE = 'serving_default'
EXAMPLES_INPUT = 'examples'
RAW_SIGNATURE = 'predict_raw'
OUTPUT_KEY = 'disputed_probability'
# TF Serving replays this file (a TFRecord of PredictionLog) before a new
# version takes traffic; the exporter writes it, the server reads it.
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
