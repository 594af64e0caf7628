"""`python -m common.migrations`: rewrite schema.sql from the migrations."""

from common.migrations import SCHEMA_FILE, joined

SCHEMA_FILE.write_text(joined())
print(f"wrote {SCHEMA_FILE}")
