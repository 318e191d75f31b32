-- name: insert_proposal
INSERT INTO proposals (tenant_id, source, item_id, kind, external_id, title, body, tags, attrs,
                       rationale, confidence)
VALUES (%(tenant_id)s, 'manual', %(item_id)s, %(kind)s, %(external_id)s, %(title)s, %(body)s,
        %(tags)s, %(attrs)s, %(rationale)s, %(confidence)s)
RETURNING tenant_id, proposal_id, item_id, title, body;

-- name: get_proposal
-- One proposal with the knowledge or proposal it duplicates, for reviewers to compare.
SELECT p.proposal_id, p.source, p.source_id, p.item_id, p.kind, p.external_id, p.title, p.body,
       p.tags, p.attrs, p.rationale, p.confidence, p.status, p.embedding IS NOT NULL AS embedded,
       p.similarity, p.reviewer, p.review_note, p.reviewed_at, p.applied_item_id,
       p.applied_version, p.previous_version, p.applied_at, p.rolled_back_at, p.apply_error,
       p.created_at,
       p.updated_at,
       p.duplicate_item_id, di.title AS duplicate_item_title, di.body AS duplicate_item_body,
       p.duplicate_proposal_id, dp.title AS duplicate_proposal_title,
       dp.body AS duplicate_proposal_body
FROM proposals AS p
LEFT JOIN items AS di ON di.tenant_id = p.tenant_id AND di.item_id = p.duplicate_item_id
LEFT JOIN proposals AS dp
       ON dp.tenant_id = p.tenant_id AND dp.proposal_id = p.duplicate_proposal_id
WHERE p.tenant_id = %(tenant_id)s AND p.proposal_id = %(proposal_id)s;

-- name: list_by_confidence
-- A page of one status, most confident first (then oldest).
SELECT p.proposal_id, p.source, p.source_id, p.item_id, p.kind, p.external_id, p.title, p.body,
       p.tags, p.attrs, p.rationale, p.confidence, p.status, p.embedding IS NOT NULL AS embedded,
       p.similarity, p.reviewer, p.review_note, p.reviewed_at, p.applied_item_id,
       p.applied_version, p.previous_version, p.applied_at, p.rolled_back_at, p.apply_error,
       p.created_at,
       p.updated_at,
       p.duplicate_item_id, di.title AS duplicate_item_title, di.body AS duplicate_item_body,
       p.duplicate_proposal_id, dp.title AS duplicate_proposal_title,
       dp.body AS duplicate_proposal_body
FROM proposals AS p
LEFT JOIN items AS di ON di.tenant_id = p.tenant_id AND di.item_id = p.duplicate_item_id
LEFT JOIN proposals AS dp
       ON dp.tenant_id = p.tenant_id AND dp.proposal_id = p.duplicate_proposal_id
WHERE p.tenant_id = %(tenant_id)s AND p.status = %(status)s
  AND (%(sources)s::text[] IS NULL OR p.source = ANY(%(sources)s::text[]))
  AND p.confidence >= %(min_confidence)s
  AND (NOT %(duplicates)s::boolean
       OR p.duplicate_item_id IS NOT NULL OR p.duplicate_proposal_id IS NOT NULL)
ORDER BY p.confidence DESC, p.proposal_id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_by_age
-- A page of one status, oldest first.
SELECT p.proposal_id, p.source, p.source_id, p.item_id, p.kind, p.external_id, p.title, p.body,
       p.tags, p.attrs, p.rationale, p.confidence, p.status, p.embedding IS NOT NULL AS embedded,
       p.similarity, p.reviewer, p.review_note, p.reviewed_at, p.applied_item_id,
       p.applied_version, p.previous_version, p.applied_at, p.rolled_back_at, p.apply_error,
       p.created_at,
       p.updated_at,
       p.duplicate_item_id, di.title AS duplicate_item_title, di.body AS duplicate_item_body,
       p.duplicate_proposal_id, dp.title AS duplicate_proposal_title,
       dp.body AS duplicate_proposal_body
FROM proposals AS p
LEFT JOIN items AS di ON di.tenant_id = p.tenant_id AND di.item_id = p.duplicate_item_id
LEFT JOIN proposals AS dp
       ON dp.tenant_id = p.tenant_id AND dp.proposal_id = p.duplicate_proposal_id
WHERE p.tenant_id = %(tenant_id)s AND p.status = %(status)s
  AND (%(sources)s::text[] IS NULL OR p.source = ANY(%(sources)s::text[]))
  AND p.confidence >= %(min_confidence)s
  AND (NOT %(duplicates)s::boolean
       OR p.duplicate_item_id IS NOT NULL OR p.duplicate_proposal_id IS NOT NULL)
ORDER BY p.created_at, p.proposal_id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: edit_proposal
-- New content for a proposal still under review (or failed to apply); its vector and
-- duplicate link are redone.
UPDATE proposals SET
    title = coalesce(%(title)s, title), body = coalesce(%(body)s, body),
    tags = coalesce(%(tags)s, tags), rationale = coalesce(%(rationale)s, rationale),
    confidence = coalesce(%(confidence)s, confidence),
    embedding = NULL, duplicate_item_id = NULL, duplicate_proposal_id = NULL, similarity = NULL,
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s
  AND status IN ('pending', 'approved', 'failed')
RETURNING tenant_id, proposal_id, item_id, title, body;

-- name: review_proposal
-- Approve or reject: only from the statuses named.
UPDATE proposals SET
    status = %(status)s, reviewer = %(reviewer)s, review_note = %(note)s, reviewed_at = now(),
    apply_error = CASE WHEN %(status)s = 'approved' THEN NULL ELSE apply_error END,
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s
  AND status = ANY(%(from_statuses)s::text[])
RETURNING proposal_id;

-- name: proposal_status
SELECT status, body, item_id FROM proposals
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s;

-- name: insert_audit
INSERT INTO proposal_audit (tenant_id, proposal_id, action, actor, note, detail)
VALUES (%(tenant_id)s, %(proposal_id)s, %(action)s, %(actor)s, %(note)s, %(detail)s);

-- name: list_audit
SELECT audit_id, proposal_id, action, actor, note, detail, created_at
FROM proposal_audit
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s
ORDER BY audit_id;

-- name: target_item
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version
FROM items WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s;

-- name: claim_unembedded
-- Proposals still without a vector, every tenant's; each worker takes rows no other holds.
SELECT tenant_id, proposal_id, item_id, title, body
FROM proposals
WHERE embedding IS NULL AND status IN ('pending', 'approved')
ORDER BY proposal_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: duplicate_search_breadth
-- For the rest of the transaction: a near-duplicate lies close to its query, so a narrower
-- HNSW search (pgvector's default breadth) finds it, at a fraction of the cost.
SET LOCAL hnsw.ef_search = 40;

-- name: nearest_item
-- The tenant's item most similar to a vector, the proposal's own target left out.
SELECT item_id, 1 - (embedding <=> %(vector)s) AS similarity
FROM items
WHERE tenant_id = %(tenant_id)s AND embedding IS NOT NULL AND status <> 'archived'
  AND item_id IS DISTINCT FROM %(item_id)s::bigint
ORDER BY embedding <=> %(vector)s
LIMIT 1;

-- name: nearest_pending
-- The tenant's pending proposal most similar to a vector, the proposal itself left out:
-- an exact scan of the queue's vectors (those of another embedder's dimension skipped).
SELECT proposal_id, 1 - (embedding <=> %(vector)s) AS similarity
FROM proposals
WHERE status = 'pending' AND tenant_id = %(tenant_id)s AND embedding IS NOT NULL
  AND proposal_id <> %(proposal_id)s
  AND vector_dims(embedding) = vector_dims(%(vector)s::vector)
ORDER BY embedding <=> %(vector)s
LIMIT 1;

-- name: set_embedding
UPDATE proposals SET
    embedding = %(vector)s, duplicate_item_id = %(duplicate_item_id)s,
    duplicate_proposal_id = %(duplicate_proposal_id)s, similarity = %(similarity)s
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s;

-- name: approved_tenants
-- The tenants with approved proposals waiting; each is applied in a transaction of its own.
SELECT DISTINCT tenant_id FROM proposals WHERE status = 'approved' ORDER BY tenant_id;

-- name: claim_approved
-- A batch of approved proposals (of one tenant, or of every tenant); rows another worker
-- holds are skipped, so each proposal is applied by one worker, once.
SELECT tenant_id, proposal_id, source, item_id, kind, external_id, title, body, tags, attrs
FROM proposals
WHERE status = 'approved' AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s::text)
ORDER BY proposal_id
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED;

-- name: lock_items
-- The items a batch revises, locked in id order (so overlapping batches cannot deadlock).
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version
FROM items WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[])
ORDER BY item_id
FOR UPDATE;

-- name: name_items
-- An item to be revised through an upsert needs an external_id; it gets a stable one.
-- Not a content change: the version and the content hash stay as they are.
UPDATE items SET external_id = 'item-' || item_id
WHERE tenant_id = %(tenant_id)s AND item_id = ANY(%(item_ids)s::bigint[])
  AND external_id IS NULL
RETURNING item_id, external_id;

-- name: mark_applied
UPDATE proposals AS p SET
    status = 'applied', applied_item_id = a.item_id, applied_version = a.version,
    previous_version = a.previous_version, applied_at = now(), updated_at = now()
FROM unnest(%(proposal_ids)s::bigint[], %(item_ids)s::bigint[], %(versions)s::integer[],
            %(previous)s::integer[]) AS a (proposal_id, item_id, version, previous_version)
WHERE p.tenant_id = %(tenant_id)s AND p.proposal_id = a.proposal_id AND p.status = 'approved';

-- name: audit_applied
INSERT INTO proposal_audit (tenant_id, proposal_id, action, actor, detail)
SELECT %(tenant_id)s, a.proposal_id, 'applied', %(actor)s, a.detail
FROM unnest(%(proposal_ids)s::bigint[], %(details)s::jsonb[]) AS a (proposal_id, detail);

-- name: mark_unappliable
-- The item an approved proposal revises is gone: it is rejected, with the reason.
UPDATE proposals SET
    status = 'rejected', reviewer = 'system', review_note = %(note)s, reviewed_at = now(),
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s AND status = 'approved';

-- name: mark_failed
-- An approved proposal that cannot be applied: failed, with the reason, out of the way of
-- the rest of the queue until a reviewer edits and approves it again, or rejects it.
UPDATE proposals SET status = 'failed', apply_error = %(error)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s AND status = 'approved';

-- name: lock_applied
SELECT proposal_id, status, applied_item_id, applied_version, previous_version
FROM proposals
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s
FOR UPDATE;

-- name: item_version
SELECT kind, title, body, tags, attrs, status, content_hash
FROM item_versions
WHERE tenant_id = %(tenant_id)s AND item_id = %(item_id)s AND version = %(version)s;

-- name: mark_rolled_back
UPDATE proposals SET status = 'rolled_back', rolled_back_at = now(), updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s AND status = 'applied';

-- name: refresh_views
SELECT learnloop_refresh_learning_views();

-- name: learning_metrics
SELECT day, source, status, proposals, avg_confidence, duplicates, avg_review_seconds
FROM learning_metrics_daily
WHERE tenant_id = %(tenant_id)s AND day >= %(since)s
ORDER BY day, source, status;

-- name: response_performance
SELECT day, impressions, no_match, viewed, clicked, executed, succeeded, failed, dismissed,
       feedback, negative_feedback, avg_score, corrections, success_rate
FROM response_performance_daily
WHERE tenant_id = %(tenant_id)s AND day >= %(since)s
ORDER BY day;

-- name: set_duplicate_threshold
UPDATE tenants
SET settings = jsonb_set(settings, '{duplicate_threshold}', to_jsonb(%(threshold)s::float8))
WHERE tenant_id = %(tenant_id)s
RETURNING (settings ->> 'duplicate_threshold')::float8 AS threshold;

-- name: proposal_pair
-- A proposal with its duplicate link, locked for a reviewer's decision on the pair.
SELECT proposal_id, status, item_id, duplicate_item_id, duplicate_proposal_id, similarity,
       embedding IS NOT NULL AS embedded
FROM proposals
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s
FOR UPDATE;

-- name: pair_similarity_item
-- The cosine similarity of a proposal and an item of the tenant (null: one has no vector,
-- or they are of another dimension).
SELECT i.item_id, CASE WHEN vector_dims(i.embedding) = vector_dims(p.embedding)
                       THEN 1 - (i.embedding <=> p.embedding) END AS similarity
FROM proposals AS p
JOIN items AS i ON i.tenant_id = p.tenant_id AND i.item_id = %(other_id)s
WHERE p.tenant_id = %(tenant_id)s AND p.proposal_id = %(proposal_id)s;

-- name: pair_similarity_proposal
SELECT o.proposal_id, CASE WHEN vector_dims(o.embedding) = vector_dims(p.embedding)
                           THEN 1 - (o.embedding <=> p.embedding) END AS similarity
FROM proposals AS p
JOIN proposals AS o ON o.tenant_id = p.tenant_id AND o.proposal_id = %(other_id)s
WHERE p.tenant_id = %(tenant_id)s AND p.proposal_id = %(proposal_id)s
  AND o.proposal_id <> p.proposal_id;

-- name: insert_duplicate_decision
INSERT INTO duplicate_decisions (tenant_id, proposal_id, other_kind, other_id, similarity,
                                 decision, reviewer, note)
VALUES (%(tenant_id)s, %(proposal_id)s, %(other_kind)s, %(other_id)s, %(similarity)s,
        %(decision)s, %(reviewer)s, %(note)s);

-- name: merge_into_item
-- A new-item proposal that repeats an item becomes a revision of that item.
UPDATE proposals SET
    item_id = %(item_id)s, duplicate_item_id = NULL, duplicate_proposal_id = NULL,
    similarity = NULL, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s;

-- name: reject_as_duplicate
UPDATE proposals SET
    status = 'rejected', reviewer = %(reviewer)s, review_note = %(note)s, reviewed_at = now(),
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s;

-- name: keep_apart
-- Not a duplicate: the link goes, the proposal stays as it is.
UPDATE proposals SET
    duplicate_item_id = NULL, duplicate_proposal_id = NULL, similarity = NULL,
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND proposal_id = %(proposal_id)s;

-- name: decided_pairs
-- The latest decision on each pair of the tenant: its similarity and whether it was merged.
SELECT DISTINCT ON (proposal_id, other_kind, other_id)
       similarity, decision = 'merge' AS merged
FROM duplicate_decisions
WHERE tenant_id = %(tenant_id)s
ORDER BY proposal_id, other_kind, other_id, decision_id DESC;
