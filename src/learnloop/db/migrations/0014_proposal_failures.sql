-- An approved proposal that cannot be applied (content an item cannot hold) is marked
-- 'failed' with the reason, so it never blocks the rest of the learning queue; a reviewer
-- edits it and approves it again, or rejects it.
ALTER TABLE proposals DROP CONSTRAINT proposals_status_check;
ALTER TABLE proposals ADD CONSTRAINT proposals_status_check
    CHECK (status IN ('pending', 'approved', 'rejected', 'applied', 'rolled_back', 'failed'));
ALTER TABLE proposals ADD COLUMN apply_error text;

ALTER TABLE proposal_audit DROP CONSTRAINT proposal_audit_action_check;
ALTER TABLE proposal_audit ADD CONSTRAINT proposal_audit_action_check
    CHECK (action IN ('created', 'edited', 'approved', 'rejected', 'applied', 'rolled_back',
                      'failed'));

-- The worker's apply step takes one tenant at a time: which tenants have work waiting.
CREATE INDEX proposals_approved_by_tenant ON proposals (tenant_id, proposal_id)
    WHERE status = 'approved';
