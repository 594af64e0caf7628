"""Intake: Gong's deliveries in, the `webhook_events` outbox (its only writer), and the
Prefect runs that analyse what it holds."""
