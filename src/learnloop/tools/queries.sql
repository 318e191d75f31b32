-- name: tool_stats
-- Calls, successes and median duration of each candidate tool, from the recorded executions:
-- a call counts for a tool when it names the tool's item, or, naming no item, its name.
-- One lateral aggregate per candidate, so each reads its calls through an index.
SELECT w.item_id, s.calls, s.successes, s.median_ms
FROM unnest(%(item_ids)s::bigint[], %(names)s::text[]) AS w(item_id, tool)
CROSS JOIN LATERAL (
    SELECT count(*) AS calls,
           count(*) FILTER (WHERE c.success) AS successes,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY c.duration_ms) AS median_ms
    FROM tool_calls c
    WHERE c.tenant_id = %(tenant_id)s
      AND (c.item_id = w.item_id OR (c.item_id IS NULL AND c.tool = w.tool))
) AS s;

-- name: insert_selection
INSERT INTO tool_selections (tenant_id, selection_id, query, context, chosen_item_id,
                             chosen_tool, decided_by, llm_model)
VALUES (%(tenant_id)s, %(selection_id)s, %(query)s, %(context)s, %(chosen_item_id)s,
        %(chosen_tool)s, %(decided_by)s, %(llm_model)s)
RETURNING created_at;

-- name: insert_selection_candidate
INSERT INTO tool_selection_candidates (tenant_id, selection_id, stage, rank, item_id,
                                       item_version, tool, score, similarity, calls, successes,
                                       median_ms)
VALUES (%(tenant_id)s, %(selection_id)s, %(stage)s, %(rank)s, %(item_id)s, %(item_version)s,
        %(tool)s, %(score)s, %(similarity)s, %(calls)s, %(successes)s, %(median_ms)s);

-- name: get_selection
SELECT selection_id, query, context, chosen_item_id, chosen_tool, decided_by, llm_model,
       created_at
FROM tool_selections
WHERE tenant_id = %(tenant_id)s AND selection_id = %(selection_id)s;

-- name: selection_candidates
SELECT stage, rank, item_id, item_version, tool, score, similarity, calls, successes, median_ms
FROM tool_selection_candidates
WHERE tenant_id = %(tenant_id)s AND selection_id = %(selection_id)s
ORDER BY stage, rank;

-- name: tools_by_external_id
-- The tenant's tool items named by external id (a catalogue's ids).
SELECT item_id, kind, external_id, title, body, tags, attrs, status, version, content_hash,
       created_at, updated_at
FROM items
WHERE tenant_id = %(tenant_id)s AND kind = 'tool' AND external_id = ANY(%(external_ids)s::text[]);
