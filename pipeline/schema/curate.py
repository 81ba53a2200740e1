"""Curates the schema that ImportSchemaGen feeds to ExampleValidator.

Start from a schema SchemaGen inferred on a run of the generated data, then
state what "good data" means here, so that ExampleValidator (and the data gate)
reject bad data instead of re-learning it:

  python -m pipeline.schema.curate <inferred schema.pbtxt>

writes pipeline/schema/schema.pbtxt. Replace the rules below for your data.
"""

import os
import sys

import tensorflow_data_validation as tfdv

from components import features

# Always present: a row without them cannot be used.
REQUIRED = {features.LABEL_KEY, features.ID_KEY, 'product',
            'company_response', 'timely_response'}
# Closed vocabularies: a value outside them is an anomaly beyond this share.
CLOSED_DOMAINS = {'product', 'company_response', 'timely_response',
                  'submitted_via', 'tags', 'state'}
MIN_DOMAIN_MASS = 0.95
# Open vocabularies (long tails that grow with new data): no value domain.
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schema.pbtxt')


def curate(schema):
  kept_domains = []
  for domain in schema.string_domain:
    if domain.name in CLOSED_DOMAINS:
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


def main(argv):
  schema = tfdv.load_schema_text(argv[1])
  tfdv.write_schema_text(curate(schema), OUT)
  print('wrote', OUT)


if __name__ == '__main__':
  main(sys.argv)
