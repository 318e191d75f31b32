-- Reviewers' decisions on duplicate pairs of the learning queue: a proposal and the item or
-- proposal it repeats (merge) or does not repeat (distinct), with the pair's cosine
-- similarity. The tenant's duplicate threshold is learned from them.
CREATE TABLE duplicate_decisions (
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    decision_id  bigint GENERATED ALWAYS AS IDENTITY,
    proposal_id  bigint NOT NULL,
    other_kind   text NOT NULL CHECK (other_kind IN ('item', 'proposal')),
    other_id     bigint NOT NULL,
    similarity   double precision NOT NULL CHECK (similarity BETWEEN -1 AND 1),
    decision     text NOT NULL CHECK (decision IN ('merge', 'distinct')),
    reviewer     text NOT NULL,
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, decision_id),
    FOREIGN KEY (tenant_id, proposal_id) REFERENCES proposals ON DELETE CASCADE
);
-- The latest decision on each pair, per tenant.
CREATE INDEX duplicate_decisions_by_pair
    ON duplicate_decisions (tenant_id, proposal_id, other_kind, other_id, decision_id DESC);

ALTER TABLE proposal_audit DROP CONSTRAINT proposal_audit_action_check;
ALTER TABLE proposal_audit ADD CONSTRAINT proposal_audit_action_check
    CHECK (action IN ('created', 'edited', 'approved', 'rejected', 'applied', 'rolled_back',
                      'failed', 'merged', 'distinct'));
