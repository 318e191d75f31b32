-- Conversations with their messages, and voice transcripts with their sentiment.

CREATE TABLE conversations (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    conversation_id text NOT NULL,
    channel         text NOT NULL DEFAULT 'chat' CHECK (channel IN ('chat', 'voice', 'email')),
    session_id      text,
    user_id         text,
    account_id      text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id)
);

CREATE TABLE messages (
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL,
    seq             integer NOT NULL CHECK (seq >= 1),
    role            text NOT NULL CHECK (role IN ('user', 'assistant', 'agent', 'system')),
    content         text NOT NULL,
    impression_id   uuid,
    sentiment       real NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations ON DELETE CASCADE
);

CREATE TABLE transcripts (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    transcript_id   bigint GENERATED ALWAYS AS IDENTITY,
    external_id     text,
    conversation_id text,
    account_id      text,
    text            text NOT NULL CHECK (length(btrim(text)) > 0),
    duration_s      double precision CHECK (duration_s >= 0),
    sentiment       real NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    sentiment_label text NOT NULL CHECK (sentiment_label IN ('negative', 'neutral', 'positive')),
    sentences       jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, transcript_id),
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX transcripts_sentiment ON transcripts (tenant_id, sentiment_label, created_at DESC);
