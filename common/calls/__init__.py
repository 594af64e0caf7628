"""Calls: what Gong says about a call and its people (`calls`, `users`), the transcript,
its redaction and conversation metrics."""
