"""Data lifecycle: erasure of a person on request, and retention past RETENTION_YEARS."""
