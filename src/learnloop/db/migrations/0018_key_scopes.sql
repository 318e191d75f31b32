-- What each API key may do (learnloop.tenants.SCOPES) and, optionally, its own rate limit.
-- Keys made before scopes existed could do everything, so they become admin keys.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{admin}'
        CHECK (cardinality(scopes) >= 1
               AND scopes <@ ARRAY['read', 'write', 'admin', 'beacon']::text[]),
    -- A token bucket: rate_per_second tokens added a second, up to rate_burst; NULL: the
    -- server's default (LEARNLOOP_KEY_RATE_PER_SECOND, off unless set).
    ADD COLUMN rate_per_second double precision CHECK (rate_per_second > 0),
    ADD COLUMN rate_burst integer CHECK (rate_burst >= 1),
    ADD CONSTRAINT api_keys_rate_whole CHECK ((rate_per_second IS NULL) = (rate_burst IS NULL));
