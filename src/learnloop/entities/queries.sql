-- Entities: the names a tenant's records go by, and the messages and transcripts that hold them.

-- name: names_signature
-- Changes whenever a name could have: the gazetteer is rebuilt then, and reused otherwise.
SELECT (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM items
        WHERE tenant_id = %(tenant_id)s)
    || '|' || (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM accounts
               WHERE tenant_id = %(tenant_id)s)
    || '|' || (SELECT count(DISTINCT kpi) FROM kpi_values WHERE tenant_id = %(tenant_id)s)
    AS signature;

-- name: item_names
-- Items with a short title (a name, not a sentence), and their aliases (attrs.aliases).
SELECT item_id, kind, title, tags, attrs->'aliases' AS aliases, attrs->>'account_id' AS account_id
FROM items
WHERE tenant_id = %(tenant_id)s AND status IN ('active', 'draft')
  AND length(title) <= 120
ORDER BY item_id
LIMIT %(limit)s;

-- name: account_names
SELECT account_id, name FROM accounts WHERE tenant_id = %(tenant_id)s
ORDER BY account_id LIMIT %(limit)s;

-- name: kpi_names
SELECT DISTINCT kpi FROM kpi_values WHERE tenant_id = %(tenant_id)s LIMIT %(limit)s;

-- name: search_messages
SELECT 'message' AS source, m.conversation_id, m.seq, NULL::bigint AS transcript_id,
       c.account_id, m.created_at, m.content AS text, m.entities
FROM messages m
JOIN conversations c USING (tenant_id, conversation_id)
WHERE m.tenant_id = %(tenant_id)s AND m.entities @> %(pattern)s
ORDER BY m.created_at DESC, m.conversation_id, m.seq
LIMIT %(limit)s;

-- name: search_transcripts
SELECT 'transcript' AS source, conversation_id, NULL::integer AS seq, transcript_id,
       account_id, created_at, text, entities
FROM transcripts
WHERE tenant_id = %(tenant_id)s AND entities @> %(pattern)s
ORDER BY created_at DESC, transcript_id DESC
LIMIT %(limit)s;

-- name: top_entities
-- The most mentioned entities of the tenant's messages and transcripts since a time.
WITH mentions AS (
    SELECT coalesce(m.conversation_id, '') AS holder, m.created_at, e
    FROM messages m, jsonb_array_elements(m.entities) AS e
    WHERE m.tenant_id = %(tenant_id)s AND m.created_at >= %(since)s
    UNION ALL
    SELECT 't' || t.transcript_id, t.created_at, e
    FROM transcripts t, jsonb_array_elements(t.entities) AS e
    WHERE t.tenant_id = %(tenant_id)s AND t.created_at >= %(since)s
)
SELECT e->>'label' AS label, min(e->>'value') AS value, e->>'key' AS key,
       (e->>'item_id')::bigint AS item_id, e->>'account_id' AS account_id,
       count(*) AS mentions, count(DISTINCT holder) AS conversations,
       max(created_at) AS last_seen
FROM mentions
WHERE %(label)s::text IS NULL OR e->>'label' = %(label)s
GROUP BY e->>'label', e->>'key', (e->>'item_id')::bigint, e->>'account_id'
ORDER BY mentions DESC, last_seen DESC, label, key
LIMIT %(limit)s;

-- name: messages_to_index
SELECT conversation_id, seq, content AS text FROM messages
WHERE tenant_id = %(tenant_id)s
  AND (conversation_id, seq) > (%(after_conversation)s, %(after_seq)s)
ORDER BY conversation_id, seq
LIMIT %(limit)s;

-- name: set_message_entities
UPDATE messages SET entities = %(entities)s
WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s AND seq = %(seq)s;

-- name: transcripts_to_index
SELECT transcript_id, text FROM transcripts
WHERE tenant_id = %(tenant_id)s AND transcript_id > %(after)s
ORDER BY transcript_id
LIMIT %(limit)s;

-- name: set_transcript_entities
UPDATE transcripts SET entities = %(entities)s
WHERE tenant_id = %(tenant_id)s AND transcript_id = %(transcript_id)s;
