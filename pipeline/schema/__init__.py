"""The curated schema (schema.pbtxt, shipped with the package) and its curation."""
