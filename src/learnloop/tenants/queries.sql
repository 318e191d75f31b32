-- name: create_tenant
INSERT INTO tenants (tenant_id, name) VALUES (%(tenant_id)s, %(name)s)
ON CONFLICT (tenant_id) DO NOTHING
RETURNING tenant_id, name, created_at;

-- name: get_tenant
SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = %(tenant_id)s;

-- name: list_tenants
SELECT tenant_id, name, created_at FROM tenants ORDER BY tenant_id;

-- name: create_key
INSERT INTO api_keys (tenant_id, key_id, key_hash, name, scopes, rate_per_second, rate_burst)
VALUES (%(tenant_id)s, %(key_id)s, %(key_hash)s, %(name)s, %(scopes)s::text[],
        %(rate_per_second)s, %(rate_burst)s)
RETURNING key_id, name, scopes, rate_per_second, rate_burst, created_at, last_used_at,
          revoked_at;

-- name: list_keys
SELECT key_id, name, scopes, rate_per_second, rate_burst, created_at, last_used_at,
       revoked_at
FROM api_keys
WHERE tenant_id = %(tenant_id)s ORDER BY created_at, key_id;

-- name: revoke_key
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE tenant_id = %(tenant_id)s AND key_id = %(key_id)s
RETURNING key_id, name, scopes, rate_per_second, rate_burst, created_at, last_used_at,
          revoked_at;

-- name: authenticate
-- The tenant, scopes and rate limit of a live key; marks it used at most once a minute.
WITH found AS (
    SELECT tenant_id, key_id, scopes, rate_per_second, rate_burst, last_used_at FROM api_keys
    WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
), touched AS (
    UPDATE api_keys AS a SET last_used_at = now()
    FROM found
    WHERE a.tenant_id = found.tenant_id AND a.key_id = found.key_id
      AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING a.key_id
)
SELECT tenant_id, key_id, scopes, rate_per_second, rate_burst FROM found;
