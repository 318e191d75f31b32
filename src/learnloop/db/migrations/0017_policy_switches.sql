-- The audit log of automatic policy switches (learnloop.learn.autoswitch): every switch
-- and every rollback, with the evidence it was made on (the offline estimates, their
-- interval, support, effective sample size and impressions; the live rates).
CREATE TABLE learn_policy_switches (
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    switch_id   bigint GENERATED ALWAYS AS IDENTITY,
    action      text NOT NULL CHECK (action IN ('switch', 'rollback')),
    from_policy text NOT NULL,
    to_policy   text NOT NULL,
    evidence    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, switch_id)
);
