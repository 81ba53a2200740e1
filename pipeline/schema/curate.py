"""Curates the schema that ImportSchemaGen feeds to ExampleValidator.

Start from a schema SchemaGen inferred on a run of the generated data, then
state what "good data" means here, so that ExampleValidator (and the data gate)
reject bad data instead of re-learning it:

  python -m pipeline curate-schema <inferred schema.pbtxt>

writes pipeline/schema/schema.pbtxt. Replace the rules below for your data.
"""

import tensorflow_data_validation as tfdv

from components import features
from pipeline import paths

# Always present: a row without them cannot be used.
REQUIRED = {features.LABEL_KEY, features.ID_KEY, features.PRODUCT,
            features.COMPANY_RESPONSE, features.TIMELY_RESPONSE}
# Closed vocabularies: a value outside them is an anomaly beyond this share.
CLOSED_DOMAINS = {features.PRODUCT, features.COMPANY_RESPONSE,
                  features.TIMELY_RESPONSE, features.SUBMITTED_VIA,
                  features.TAGS, features.STATE}
MIN_DOMAIN_MASS = 0.95
# Values of the real CFPB taxonomy the generator never writes, so a schema
# inferred on generated data lacks them: the company responses of 2011-2012
# (data/compare_real.py). Real exports carry them; they are not anomalies.
REAL_VALUES_NOT_GENERATED = {
    features.COMPANY_RESPONSE: ('Closed with relief', 'Closed without relief'),
}
# Open vocabularies (long tails that grow with new data): no value domain.
OUT = paths.CURATED_SCHEMA


def curate(schema):
  kept_domains = []
  for domain in schema.string_domain:
    if domain.name in CLOSED_DOMAINS:
      for value in REAL_VALUES_NOT_GENERATED.get(domain.name, ()):
        if value not in domain.value:
          domain.value.append(value)
      kept_domains.append(domain)
  del schema.string_domain[:]
  schema.string_domain.extend(kept_domains)
  for feature in schema.feature:
    if feature.HasField('domain') and feature.domain not in CLOSED_DOMAINS:
      feature.ClearField('domain')
    if feature.name in CLOSED_DOMAINS:
      feature.distribution_constraints.min_domain_mass = MIN_DOMAIN_MASS
    if feature.name not in REQUIRED:
      feature.presence.min_fraction = 0.0
      feature.presence.min_count = 0
      feature.ClearField('shape')
      feature.value_count.min = 0
      feature.value_count.max = 1
  return schema


def curate_file(inferred_path: str, out: str = OUT) -> str:
  """Reads an inferred schema, writes the curated one to out; returns out."""
  tfdv.write_schema_text(curate(tfdv.load_schema_text(inferred_path)), out)
  return out
