"""Reports: the weekly reviews' numbers (from the read model), their HTML and charts, and
publishing them (`weekly_reports`)."""
