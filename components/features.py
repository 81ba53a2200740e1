"""The single source of feature names for the whole project.

Every other module (data conversion, preprocessing, the model, the evaluator's
slices, the serving client) takes its names from here, so a feature is renamed
or added in one place. Replace with your own features when adapting the
pipeline to another data set.
"""

from typing import Dict, List

# Column of the CFPB export -> raw feature key in the pipeline's input CSV.
# The export's headers have spaces and punctuation ("Consumer disputed?"),
# which are not valid TensorFlow signature names, hence the snake_case keys.
EXPORT_TO_FEATURE: Dict[str, str] = {
    'Product': 'product',
    'Sub-product': 'sub_product',
    'Issue': 'issue',
    'Sub-issue': 'sub_issue',
    'Consumer complaint narrative': 'narrative',
    'Company': 'company',
    'State': 'state',
    'ZIP code': 'zip_code',
    'Tags': 'tags',
    'Submitted via': 'submitted_via',
    'Company response to consumer': 'company_response',
    'Timely response?': 'timely_response',
}

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
    'product', 'sub_product', 'issue', 'sub_issue', 'company', 'state',
    'tags', 'submitted_via', 'company_response', 'timely_response',
]
# The ZIP code is published masked ("606XX"); only its 3-digit prefix is kept,
# as one more categorical.
ZIP_FEATURE = 'zip_code'
ZIP_PREFIX_LENGTH = 3
# What the shared vocabulary is built from, in the column order of its output.
CATEGORICAL_INPUTS: List[str] = CATEGORICAL_FEATURES + [ZIP_FEATURE]
CATEGORICAL_XF = 'categorical_xf'
CATEGORICAL_VOCAB = 'categorical_vocab'
# Tokens kept, most frequent first (50,000 generated rows have 1,248);
# rarer and unseen values hash into the OOV buckets.
CATEGORICAL_VOCAB_SIZE = 5000
OOV_BUCKETS = 4

# The free-text narrative becomes a bag of word n-grams: single words and
# word pairs ("not satisfied", "never responded" carry what single words
# do not), mapped through a TFT vocabulary of the most frequent n-grams.
TEXT_FEATURE = 'narrative'
TEXT_NGRAM_RANGE = (1, 2)
TEXT_VOCAB_SIZE = 10000
TEXT_OOV_BUCKETS = 1
# Words read per narrative: bounds the cost of a pathological input while
# keeping whole real narratives (the longest bundled real one has 4,319).
TEXT_MAX_TOKENS = 5000

# Raw features the model reads (all strings), in a stable order.
RAW_FEATURES: List[str] = CATEGORICAL_INPUTS + [TEXT_FEATURE]

# Slices reported by the Evaluator.
SLICE_FEATURES: List[str] = ['product', 'state', 'company_response']


def transformed_name(key: str) -> str:
  """Name of a feature after Transform (keeps raw and transformed apart)."""
  return key + '_xf'


def vocabulary_name(key: str) -> str:
  """Name of the TFT vocabulary file for a feature."""
  return key + '_vocab'

# Explicit token for a missing categorical value (empty in the CSV), so that
# "missing" is a learned category rather than silently an OOV bucket.
MISSING_TOKEN = '(missing)'
