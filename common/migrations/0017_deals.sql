-- 0017: the deal behind each call (common/deals owns both tables).
-- Gong's calls/extensive with Extended context names a call's CRM opportunity twice: as it stood
-- at the call (TimeOfCall) and as it stands now (Now). A deal's outcome is its stage now, mapped
-- through DEAL_STAGE_OUTCOMES (Probability 100 / 0 as a fallback); a daily flow refreshes open ones.
CREATE TABLE IF NOT EXISTS deals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    crm_system     text NOT NULL,                -- Salesforce | HubSpot | MicrosoftDynamic | Generic
    opportunity_id text NOT NULL,                -- the CRM's id of the opportunity
    name           text,
    amount         numeric,
    close_date     date,
    stage          text,                         -- the stage now
    probability    numeric,
    outcome        text NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'won', 'lost')),
    stage_mapped   boolean NOT NULL DEFAULT true, -- false: a stage name the map does not know
    closed_at      timestamptz,                  -- when we first saw it won or lost
    refreshed_at   timestamptz,                  -- when Gong last told us its state now
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crm_system, opportunity_id)
);
CREATE INDEX IF NOT EXISTS deals_open_idx ON deals (refreshed_at NULLS FIRST) WHERE outcome = 'open';
CREATE INDEX IF NOT EXISTS deals_closed_idx ON deals (close_date) WHERE outcome <> 'open';
CREATE INDEX IF NOT EXISTS deals_name_idx ON deals (lower(name));

-- One row per call whose context was read: its deal (none: a call without a deal, which is
-- fine) and the stage at the call. A call without a row has not been asked about yet.
CREATE TABLE IF NOT EXISTS call_deals (
    call_id        text PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    deal_id        bigint REFERENCES deals (id) ON DELETE SET NULL,
    stage_at_call  text,
    amount_at_call numeric,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS call_deals_deal_idx ON call_deals (deal_id);
