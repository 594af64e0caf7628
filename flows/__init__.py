"""Prefect flows and tasks: analysis, dispatch, backfill, weekly review."""
