-- Entities in messages and transcripts: a JSON array of {label, text, start, end, value, key,
-- method, score, item_id, account_id} per row (offsets in characters of the text), searched
-- by containment (entities @> '[{"label": "email", "key": "ana@acme.io"}]') through GIN.

ALTER TABLE messages ADD COLUMN entities jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE transcripts ADD COLUMN entities jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX messages_entities ON messages USING gin (entities jsonb_path_ops);
CREATE INDEX transcripts_entities ON transcripts USING gin (entities jsonb_path_ops);
