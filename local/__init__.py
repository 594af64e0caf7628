"""Runs the whole system on one machine: embedded Postgres, moto S3, Gong and Claude stand-ins."""
