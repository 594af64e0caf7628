-- Planning a team's reads (issue 17's latency target).
--
-- Team reads filter `rep_id = ANY(<1,000 ids>)`. To estimate that, the planner compares every
-- id with every most-common value of the column, once per index it considers: with the default
-- 100 values that was 2.2 ms of planning per call_scores query and 5.4 ms per manager_scores
-- query, more than running them. Reps call about equally often, so a short list estimates as
-- well; the number of distinct reps is still sampled from the other columns' sample size.
-- Plans were compared before and after at 5,000 reps (docs/mcp-query-plans.md): unchanged.
ALTER TABLE call_scores ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE manager_scores ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE claude_usage ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE cache_lookups ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE disputes ALTER COLUMN rep_id SET STATISTICS 10;
-- agreement's AI consistency filters re-scored sessions by rep (7.3 ms of planning: 2.0)
ALTER TABLE coaching_sessions ALTER COLUMN rep_id SET STATISTICS 10;

-- Partitioned parents are never analysed by autovacuum: their statistics are made here
-- (about 40 s for 2M sessions on this machine; instant on a new database).
ANALYZE call_scores, manager_scores, claude_usage, cache_lookups, disputes, coaching_sessions;
