-- name: ensure_conversation
INSERT INTO conversations (tenant_id, conversation_id, channel, session_id, user_id,
                           account_id, metadata)
VALUES (%(tenant_id)s, %(conversation_id)s, %(channel)s, %(session)s, %(user)s, %(account)s,
        %(metadata)s)
ON CONFLICT (tenant_id, conversation_id) DO NOTHING;

-- name: lock_conversation
SELECT conversation_id FROM conversations
WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s
FOR UPDATE;

-- name: next_seq
SELECT coalesce(max(seq), 0) + 1 AS seq FROM messages
WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s;

-- name: insert_message
INSERT INTO messages (tenant_id, conversation_id, seq, role, content, impression_id, sentiment,
                      entities)
VALUES (%(tenant_id)s, %(conversation_id)s, %(seq)s, %(role)s, %(content)s, %(impression_id)s,
        %(sentiment)s, %(entities)s);

-- name: get_conversation
SELECT conversation_id, channel, session_id, user_id, account_id, metadata, created_at
FROM conversations WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s;

-- name: conversation_messages
SELECT seq, role, content, impression_id, sentiment, entities, created_at FROM messages
WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s
ORDER BY seq;

-- name: insert_transcript
INSERT INTO transcripts (tenant_id, external_id, conversation_id, account_id, text, duration_s,
                         sentiment, sentiment_label, sentences, entities)
VALUES (%(tenant_id)s, %(external_id)s, %(conversation_id)s, %(account)s, %(text)s,
        %(duration_s)s, %(sentiment)s, %(sentiment_label)s, %(sentences)s, %(entities)s)
ON CONFLICT (tenant_id, external_id) DO NOTHING
RETURNING transcript_id, external_id, conversation_id, account_id, text, duration_s, sentiment,
          sentiment_label, sentences, entities, created_at;

-- name: transcript_by_external_id
SELECT transcript_id, external_id, conversation_id, account_id, text, duration_s, sentiment,
       sentiment_label, sentences, entities, created_at
FROM transcripts WHERE tenant_id = %(tenant_id)s AND external_id = %(external_id)s;
