-- name: tenants_with_work
-- The tenants with pending rows (the one whose oldest row is oldest first) or with waits
-- over; the update takes them one at a time, each in its own transaction.
SELECT t.tenant_id
FROM tenants AS t
CROSS JOIN LATERAL (SELECT min(p.seq) AS seq FROM learn_pending AS p
                    WHERE p.tenant_id = t.tenant_id) AS first
WHERE first.seq IS NOT NULL OR EXISTS (
    SELECT 1 FROM learn_outcomes AS o
    WHERE o.tenant_id = t.tenant_id AND o.shown AND NOT o.settled
      AND o.created_at < %(now)s::timestamptz - make_interval(
            secs => coalesce((t.settings #>> '{learning,rewards,wait_seconds}')::float8, 3600)))
ORDER BY first.seq NULLS LAST, t.tenant_id;

-- name: try_lock
-- One statistics updater per tenant at a time; another that finds the tenant taken skips
-- it (the holder is doing its work) and goes on with the next tenant.
SELECT pg_try_advisory_xact_lock(hashtext('learnloop.stats'), hashtext(%(tenant_id)s::text))
       AS locked;

-- name: plan_lookups
-- For the rest of the update's transaction: join the batch to the tables by primary-key
-- lookups. A batch of 10,000 keys otherwise gets hash joins that read whole tables.
SELECT set_config('enable_hashjoin', 'off', true) AS hash,
       set_config('enable_mergejoin', 'off', true) AS merge;

-- name: claim_pending
-- The oldest pending rows of one tenant, claimed and removed. The rows are found by their
-- ctid (stable: they are locked), so the delete is a TID scan whatever the table's
-- statistics say; a join back to the table could become a nested loop over all of it.
DELETE FROM learn_pending
WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM learn_pending WHERE tenant_id = %(tenant_id)s
    ORDER BY seq LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
))
RETURNING tenant_id, seq, kind, impression_id, item_id, rank, received_at;

-- name: requeue_pending
-- Rows whose impression is not visible yet go back to wait for it.
INSERT INTO learn_pending (tenant_id, kind, impression_id, item_id, rank, received_at)
SELECT * FROM unnest(%(tenant_ids)s::text[], %(kinds)s::text[], %(impression_ids)s::uuid[],
                     %(item_ids)s::bigint[], %(ranks)s::integer[],
                     %(received_at)s::timestamptz[]);

-- name: due_outcomes
-- One tenant's items shown whose wait for an outcome is over, oldest first.
SELECT o.tenant_id, o.impression_id, o.item_id, o.rank
FROM learn_outcomes AS o JOIN tenants AS t USING (tenant_id)
WHERE o.tenant_id = %(tenant_id)s AND o.shown AND NOT o.settled
  AND o.created_at < %(now)s::timestamptz - make_interval(
        secs => coalesce((t.settings #>> '{learning,rewards,wait_seconds}')::float8, 3600))
ORDER BY o.created_at
LIMIT %(limit)s;

-- name: impression_contexts
-- The context and tenant settings of the impressions named.
SELECT i.tenant_id, i.impression_id, i.context,
       coalesce(t.settings -> 'learning', '{}'::jsonb) AS config
FROM impressions AS i JOIN tenants AS t USING (tenant_id)
JOIN unnest(%(tenant_ids)s::text[], %(impression_ids)s::uuid[]) AS n(tenant_id, impression_id)
  ON n.tenant_id = i.tenant_id AND n.impression_id = i.impression_id;

-- name: items_at_ranks
-- The item each impression showed at each rank named (events that name only a rank).
SELECT ii.tenant_id, ii.impression_id, ii.rank, ii.item_id
FROM impression_items AS ii
JOIN unnest(%(tenant_ids)s::text[], %(impression_ids)s::uuid[], %(ranks)s::integer[])
  AS n(tenant_id, impression_id, rank)
  ON n.tenant_id = ii.tenant_id AND n.impression_id = ii.impression_id AND n.rank = ii.rank
WHERE ii.shown;

-- name: outcomes_of
SELECT o.tenant_id, o.impression_id, o.item_id, o.rank, o.priority, o.reward, o.shown,
       o.settled
FROM learn_outcomes AS o
JOIN unnest(%(tenant_ids)s::text[], %(impression_ids)s::uuid[], %(item_ids)s::bigint[])
  AS n(tenant_id, impression_id, item_id)
  ON n.tenant_id = o.tenant_id AND n.impression_id = o.impression_id AND n.item_id = o.item_id;

-- name: upsert_outcomes
INSERT INTO learn_outcomes AS o (tenant_id, impression_id, item_id, rank, priority, reward,
                                 shown, settled)
SELECT * FROM unnest(%(tenant_ids)s::text[], %(impression_ids)s::uuid[], %(item_ids)s::bigint[],
                     %(ranks)s::integer[], %(priorities)s::smallint[], %(rewards)s::float8[],
                     %(shown)s::boolean[], %(settled)s::boolean[])
ON CONFLICT (tenant_id, impression_id, item_id) DO UPDATE
SET rank = excluded.rank, priority = excluded.priority, reward = excluded.reward,
    shown = excluded.shown, settled = excluded.settled;

-- name: add_stats
INSERT INTO learn_stats AS s (tenant_id, dimension, value, item_id, trials, exposure, reward,
                              positive)
SELECT * FROM unnest(%(tenant_ids)s::text[], %(dimensions)s::text[], %(values)s::text[],
                     %(item_ids)s::bigint[], %(trials)s::bigint[], %(exposure)s::float8[],
                     %(rewards)s::float8[], %(positive)s::float8[])
ORDER BY 1, 2, 3, 4
ON CONFLICT (tenant_id, dimension, value, item_id) DO UPDATE
SET trials = s.trials + excluded.trials, exposure = s.exposure + excluded.exposure,
    reward = s.reward + excluded.reward, positive = s.positive + excluded.positive,
    updated_at = now();

-- name: item_stats
-- The statistics of some items in the given segments (overall is dimension '').
SELECT s.dimension, s.value, s.item_id, s.trials, s.exposure, s.reward, s.positive
FROM learn_stats AS s
JOIN unnest(%(dimensions)s::text[], %(values)s::text[]) AS n(dimension, value)
  ON n.dimension = s.dimension AND n.value = s.value
WHERE s.tenant_id = %(tenant_id)s AND s.item_id = ANY(%(item_ids)s::bigint[]);

-- name: stats_page
SELECT dimension, value, item_id, trials, exposure, reward, positive, updated_at
FROM learn_stats
WHERE tenant_id = %(tenant_id)s AND (%(dimension)s::text IS NULL OR dimension = %(dimension)s)
ORDER BY dimension, value, reward DESC, item_id
LIMIT %(limit)s;

-- name: learning_config
SELECT coalesce(settings -> 'learning', '{}'::jsonb) AS config
FROM tenants WHERE tenant_id = %(tenant_id)s;

-- name: set_learning_config
UPDATE tenants SET settings = settings || jsonb_build_object('learning', %(config)s::jsonb)
WHERE tenant_id = %(tenant_id)s
RETURNING tenant_id;

-- name: get_model
SELECT state, examples, updated_at FROM learn_models
WHERE tenant_id = %(tenant_id)s AND name = %(name)s;

-- name: put_model
INSERT INTO learn_models (tenant_id, name, state, examples)
VALUES (%(tenant_id)s, %(name)s, %(state)s, %(examples)s)
ON CONFLICT (tenant_id, name) DO UPDATE
SET state = excluded.state, examples = excluded.examples, updated_at = now();

-- name: lock_model
-- Serialises the training of one tenant's model.
SELECT pg_advisory_xact_lock(hashtext('learnloop-model'), hashtext(%(tenant_id)s || %(name)s));

-- name: training_examples
-- What the contextual policy learns from: the first item shown by the impressions named,
-- its logged propensity and reward, and every candidate with its features. The tenant
-- comes with each id (one tenant, repeated) so that each lookup is by a whole primary key.
SELECT n.impression_id, i.query, i.context, o.item_id AS chosen, o.reward,
       ii.propensity AS probability,
       (SELECT jsonb_agg(jsonb_build_object(
                   'item_id', c.item_id, 'similarity', c.similarity,
                   'kind', coalesce((SELECT k.kind FROM items AS k
                                     WHERE k.tenant_id = c.tenant_id AND k.item_id = c.item_id),
                                    '')) ORDER BY c.rank)
        FROM impression_items AS c
        WHERE c.tenant_id = n.tenant_id AND c.impression_id = n.impression_id) AS candidates
FROM unnest(%(tenant_ids)s::text[], %(impression_ids)s::uuid[]) AS n(tenant_id, impression_id)
JOIN impressions AS i ON i.tenant_id = n.tenant_id AND i.impression_id = n.impression_id
JOIN impression_items AS ii ON ii.tenant_id = n.tenant_id
 AND ii.impression_id = n.impression_id AND ii.rank = 1 AND ii.shown
JOIN learn_outcomes AS o ON o.tenant_id = n.tenant_id
 AND o.impression_id = n.impression_id AND o.item_id = ii.item_id;

-- name: model_version
SELECT updated_at, examples FROM learn_models
WHERE tenant_id = %(tenant_id)s AND name = %(name)s;

-- name: evaluation_log
-- The latest impressions (those a policy logged, where one is named) with every candidate,
-- its features, its logged probability of being displayed first and the reward it earned
-- (settled: its wait is over), in the search's order: a target policy ranks the
-- candidates as the search gave them, not in the order the logging policy displayed them
-- (rows logged before migration 0019 have no search position and keep the displayed order).
SELECT i.impression_id, i.query, i.context, i.policy, i.threshold,
       jsonb_agg(jsonb_build_object(
           'item_id', c.item_id, 'rank', c.rank, 'similarity', c.similarity, 'kind', k.kind,
           'relevance', c.relevance, 'first_propensity', c.first_propensity,
           'search_position', c.search_position,
           'propensity', c.propensity, 'shown', c.shown, 'reward', coalesce(o.reward, 0),
           'settled', coalesce(o.settled, false))
           ORDER BY coalesce(c.search_position, c.rank)) AS candidates
FROM impressions AS i
JOIN impression_items AS c ON c.tenant_id = i.tenant_id AND c.impression_id = i.impression_id
JOIN items AS k ON k.tenant_id = c.tenant_id AND k.item_id = c.item_id
LEFT JOIN learn_outcomes AS o ON o.tenant_id = c.tenant_id
 AND o.impression_id = c.impression_id AND o.item_id = c.item_id
WHERE i.tenant_id = %(tenant_id)s
  AND i.impression_id IN (
      SELECT impression_id FROM impressions WHERE tenant_id = %(tenant_id)s
        AND (%(logged_by)s::text IS NULL OR policy = %(logged_by)s)
      ORDER BY created_at DESC LIMIT %(limit)s)
GROUP BY i.impression_id, i.query, i.context, i.policy, i.threshold;

-- name: all_stats
SELECT dimension, value, item_id, trials, exposure, reward, positive
FROM learn_stats WHERE tenant_id = %(tenant_id)s;

-- name: shadow_log
-- What the shadow policy would have shown first beside what the live policy showed.
SELECT s.impression_id, s.item_ids, s.propensities, c.item_id AS live_first,
       (SELECT array_agg(x.item_id ORDER BY x.rank) FROM impression_items AS x
        WHERE x.tenant_id = s.tenant_id AND x.impression_id = s.impression_id AND x.shown)
           AS live_shown
FROM learn_shadow AS s
JOIN impression_items AS c ON c.tenant_id = s.tenant_id AND c.impression_id = s.impression_id
 AND c.rank = 1
WHERE s.tenant_id = %(tenant_id)s AND s.policy = %(policy)s
ORDER BY s.created_at DESC LIMIT %(limit)s;

-- name: memory_read
-- What the memory policy reads per request, in one round trip: the question vectors of the
-- impressions logged since a time (this embedder's; the latest, each with its place, 1 =
-- newest) and, with item_id set, the outcomes, settled or rewarded, of the impressions
-- named (the nearest questions a server holds) and of the newest of those vectors.
WITH fresh AS (
    SELECT impression_id, query_vector, created_at,
           row_number() OVER (ORDER BY created_at DESC) AS place
    FROM (
        SELECT impression_id, query_vector, created_at FROM impression_vectors
        WHERE tenant_id = %(tenant_id)s AND embedder = %(embedder)s
          AND created_at > %(since)s
        ORDER BY created_at DESC
        LIMIT %(window)s
    ) AS latest
)
SELECT impression_id, query_vector, created_at, place,
       NULL::bigint AS item_id, NULL::integer AS rank, NULL::double precision AS reward
FROM fresh
UNION ALL
SELECT o.impression_id, NULL::vector, NULL::timestamptz, NULL::bigint, o.item_id, o.rank,
       o.reward
FROM learn_outcomes AS o
WHERE o.tenant_id = %(tenant_id)s
  AND o.impression_id = ANY(
      %(impression_ids)s::uuid[]
      || ARRAY(SELECT impression_id FROM fresh WHERE place <= %(fresh)s))
  AND o.shown AND (o.settled OR o.priority > 0);

-- name: memory_outcomes
-- The memory policy's evidence: the outcomes of the items shown by the impressions named
-- (the nearest past questions), each once settled or rewarded.
SELECT o.impression_id, o.item_id, o.rank, o.reward
FROM learn_outcomes AS o
WHERE o.tenant_id = %(tenant_id)s AND o.impression_id = ANY(%(impression_ids)s::uuid[])
  AND o.shown AND (o.settled OR o.priority > 0);

-- name: calibration_data
-- The latest outcomes of items shown, settled or rewarded: with the impression and rank
-- (to read each impression as a cascade), the baseline's confidence before any curve
-- (NULL in rows logged before it was kept through a curve: left out) and the one shown.
SELECT o.impression_id, c.rank, c.baseline_confidence AS baseline, c.confidence, o.reward
FROM learn_outcomes AS o
JOIN impression_items AS c ON c.tenant_id = o.tenant_id
 AND c.impression_id = o.impression_id AND c.item_id = o.item_id
WHERE o.tenant_id = %(tenant_id)s AND (o.settled OR o.priority > 0) AND c.shown
  AND c.baseline_confidence IS NOT NULL
ORDER BY o.created_at DESC LIMIT %(limit)s;

-- name: delete_model
DELETE FROM learn_models WHERE tenant_id = %(tenant_id)s AND name = %(name)s;

-- name: stop_experiments
UPDATE experiments SET status = 'stopped'
WHERE tenant_id = %(tenant_id)s AND status = 'running'
  AND (%(name)s::text IS NULL OR name = %(name)s)
RETURNING name;

-- name: create_experiment
INSERT INTO experiments (tenant_id, name, unit, variants)
VALUES (%(tenant_id)s, %(name)s, %(unit)s, %(variants)s)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING name, unit, variants, status, created_at;

-- name: get_experiment
SELECT name, unit, variants, status, created_at FROM experiments
WHERE tenant_id = %(tenant_id)s AND name = %(name)s;

-- name: list_experiments
SELECT name, unit, variants, status, created_at FROM experiments
WHERE tenant_id = %(tenant_id)s ORDER BY created_at DESC;

-- name: experiment_results
-- Per variant: impressions, and the sum and sum of squares of their total reward.
SELECT variant, count(*) AS n, coalesce(sum(reward), 0) AS total,
       coalesce(sum(reward * reward), 0) AS squares
FROM (
    SELECT i.variant, coalesce(sum(o.reward), 0) AS reward
    FROM impressions AS i
    LEFT JOIN learn_outcomes AS o
      ON o.tenant_id = i.tenant_id AND o.impression_id = i.impression_id
    WHERE i.tenant_id = %(tenant_id)s AND i.experiment = %(name)s
    GROUP BY i.impression_id, i.variant
) AS per_impression
GROUP BY variant;

-- name: set_confidence_threshold
UPDATE tenants
SET settings = settings || jsonb_build_object('confidence_threshold', %(threshold)s::real)
WHERE tenant_id = %(tenant_id)s
RETURNING tenant_id;

-- name: tenant_confidence_threshold
SELECT coalesce((settings ->> 'confidence_threshold')::real, 0.5) AS threshold
FROM tenants WHERE tenant_id = %(tenant_id)s;

-- name: replay_vectors
-- The question vectors of the impressions named (offline evaluation of the memory policy).
SELECT impression_id, embedder, query_vector, created_at FROM impression_vectors
WHERE tenant_id = %(tenant_id)s AND impression_id = ANY(%(impression_ids)s::uuid[]);

-- name: replay_vectors_before
-- The question vectors of one embedder logged before a time, the newest first: the memory
-- the oldest impressions of an evaluation window had.
SELECT impression_id, embedder, query_vector, created_at FROM impression_vectors
WHERE tenant_id = %(tenant_id)s AND embedder = %(embedder)s AND created_at < %(before)s
ORDER BY created_at DESC
LIMIT %(window)s;

-- name: autoswitch_lock
-- One automatic-switch check of a tenant at a time; another one returns at once.
SELECT pg_try_advisory_xact_lock(hashtext('learnloop-autoswitch'), hashtext(%(tenant_id)s))
    AS locked;

-- name: autoswitch_tenants
-- The tenants that asked for automatic policy switches.
SELECT tenant_id FROM tenants
WHERE coalesce((settings #>> '{learning,auto_switch,enabled}')::boolean, false)
ORDER BY tenant_id;

-- name: live_rate
-- The settled value of a policy's latest impressions in a time range: the reward of the
-- item displayed first (0 where nothing was displayed), its count, sum and sum of squares.
-- Impressions whose first item still waits for its outcome are left out.
SELECT count(*) AS n, coalesce(sum(reward), 0) AS total,
       coalesce(sum(reward * reward), 0) AS squares
FROM (
    SELECT coalesce(o.reward, 0) AS reward
    FROM impressions AS i
    LEFT JOIN impression_items AS c ON c.tenant_id = i.tenant_id
     AND c.impression_id = i.impression_id AND c.rank = 1 AND c.shown
    LEFT JOIN learn_outcomes AS o ON o.tenant_id = c.tenant_id
     AND o.impression_id = c.impression_id AND o.item_id = c.item_id
    WHERE i.tenant_id = %(tenant_id)s AND i.policy = %(policy)s
      AND (%(since)s::timestamptz IS NULL OR i.created_at > %(since)s::timestamptz)
      AND (c.item_id IS NULL OR coalesce(o.settled, false))
    ORDER BY i.created_at DESC
    LIMIT %(limit)s
) AS latest;

-- name: insert_switch
INSERT INTO learn_policy_switches (tenant_id, action, from_policy, to_policy, evidence)
VALUES (%(tenant_id)s, %(action)s, %(from_policy)s, %(to_policy)s, %(evidence)s)
RETURNING switch_id, action, from_policy, to_policy, evidence, created_at;

-- name: list_switches
-- The tenant's automatic switches and rollbacks, the latest first.
SELECT switch_id, action, from_policy, to_policy, evidence, created_at
FROM learn_policy_switches
WHERE tenant_id = %(tenant_id)s
ORDER BY switch_id DESC
LIMIT %(limit)s;

-- name: switch_policy
-- The tenant's live policy changed by an automatic switch, only while it is still the one
-- the check decided from (a change made meanwhile wins: nothing is written).
UPDATE tenants
SET settings = settings || jsonb_build_object('learning',
        coalesce(settings -> 'learning', '{}'::jsonb)
        || jsonb_build_object('policy', %(to_policy)s::text))
WHERE tenant_id = %(tenant_id)s
  AND coalesce(settings #>> '{learning,policy}', 'similarity') = %(from_policy)s
RETURNING tenant_id;

-- name: spread_months
-- The event partitions of the months of the days before now (``spread_impressions`` moves
-- events into them; a row in the default partition would block creating one later).
SELECT learnloop_event_partition(day)
FROM generate_series(now() - make_interval(days => %(days)s), now(), interval '1 day') AS day;

-- name: spread_impressions
-- A tenant's impressions logged since a time, spread evenly over the days before now in
-- the order they were logged; their question vectors, outcomes and events move with them
-- (each by its impression's shift, so the time between an impression and what followed is
-- kept). For a simulation that ran in seconds to read like weeks of use.
WITH run AS (
    SELECT impression_id,
           now() - make_interval(days => %(days)s)
           + ((row_number() OVER (ORDER BY created_at, impression_id) - 0.5)
              / count(*) OVER ())::double precision * make_interval(days => %(days)s)
           - created_at AS shift
    FROM impressions
    WHERE tenant_id = %(tenant_id)s AND created_at >= %(since)s
), impressions_moved AS (
    UPDATE impressions AS i SET created_at = i.created_at + r.shift
    FROM run AS r WHERE i.tenant_id = %(tenant_id)s AND i.impression_id = r.impression_id
    RETURNING 1
), vectors_moved AS (
    UPDATE impression_vectors AS v SET created_at = v.created_at + r.shift
    FROM run AS r WHERE v.tenant_id = %(tenant_id)s AND v.impression_id = r.impression_id
    RETURNING 1
), outcomes_moved AS (
    UPDATE learn_outcomes AS o SET created_at = o.created_at + r.shift
    FROM run AS r WHERE o.tenant_id = %(tenant_id)s AND o.impression_id = r.impression_id
    RETURNING 1
), events_moved AS (
    UPDATE events AS e SET occurred_at = e.occurred_at + r.shift
    FROM run AS r WHERE e.tenant_id = %(tenant_id)s AND e.impression_id = r.impression_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM impressions_moved) AS impressions,
       (SELECT count(*) FROM events_moved) AS events;

-- name: database_now
SELECT now() AS now;

-- name: adapter_pairs
-- What an embedding adapter is fitted on: the latest clicked pairs of one embedder, the
-- question's vector, the item that helped (reward > 0) and its rank, newest first.
SELECT v.query_vector, o.item_id, o.rank
FROM learn_outcomes AS o
JOIN impression_vectors AS v ON v.tenant_id = o.tenant_id AND v.impression_id = o.impression_id
WHERE o.tenant_id = %(tenant_id)s AND v.embedder = %(embedder)s AND o.shown AND o.reward > 0
ORDER BY o.created_at DESC, o.impression_id DESC
LIMIT %(limit)s;

-- name: adapter_pair_count
SELECT count(*) AS pairs
FROM learn_outcomes AS o
JOIN impression_vectors AS v ON v.tenant_id = o.tenant_id AND v.impression_id = o.impression_id
WHERE o.tenant_id = %(tenant_id)s AND v.embedder = %(embedder)s AND o.shown AND o.reward > 0;

-- name: adapter_items
-- The unadapted side of an adapter's held-out check: every item's own vector.
SELECT item_id, embedding FROM items
WHERE tenant_id = %(tenant_id)s AND embedder = %(embedder)s AND embedding IS NOT NULL;

-- name: embedding_space
SELECT embedder, dimension FROM embedding_space;

-- name: drop_model
DELETE FROM learn_models WHERE tenant_id = %(tenant_id)s AND name = %(name)s RETURNING name;

-- name: adapter_tenants
-- The tenants whose live or shadow policy is memory and who keep the adapter on: those
-- the worker refits an embedding adapter for when their clicked pairs grew enough.
SELECT tenant_id FROM tenants
WHERE 'memory' IN (coalesce(settings #>> '{learning,policy}', ''),
                   coalesce(settings #>> '{learning,shadow}', ''))
  AND coalesce((settings #>> '{learning,adapter,enabled}')::boolean, true)
ORDER BY tenant_id;
