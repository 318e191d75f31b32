-- The learning queue: proposed knowledge changes, reviewed, deduplicated and applied as new
-- item versions; an audit trail of every decision; materialized learning metrics.
-- Proposals arise by themselves: triggers on feedback, corrections, transcripts and reports
-- write them in the same transaction as what caused them.

CREATE TABLE proposals (
    tenant_id             text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    proposal_id           bigint GENERATED ALWAYS AS IDENTITY,
    source                text NOT NULL
                          CHECK (source IN ('feedback', 'correction', 'transcript', 'report',
                                            'manual')),
    source_id             bigint,
    item_id               bigint,
    kind                  text NOT NULL
                          CHECK (kind IN ('runbook', 'playbook', 'faq', 'kpi', 'account',
                                          'report', 'tool', 'document', 'correction')),
    external_id           text,
    title                 text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    body                  text NOT NULL DEFAULT '',
    tags                  text[] NOT NULL DEFAULT '{}',
    attrs                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    rationale             text NOT NULL DEFAULT '',
    confidence            smallint NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'approved', 'rejected', 'applied',
                                            'rolled_back')),
    -- Any dimension: the embedder in use decides (see embedding_space); the duplicate check
    -- compares only vectors of the query's dimension.
    embedding             vector,
    duplicate_item_id     bigint,
    duplicate_proposal_id bigint,
    similarity            real,
    reviewer              text,
    review_note           text,
    reviewed_at           timestamptz,
    applied_item_id       bigint,
    applied_version       integer,
    previous_version      integer,
    applied_at            timestamptz,
    rolled_back_at        timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, proposal_id),
    UNIQUE (tenant_id, source, source_id)
);
-- Review lists: by confidence, by age.
CREATE INDEX proposals_by_confidence
    ON proposals (tenant_id, status, confidence DESC, proposal_id);
CREATE INDEX proposals_by_age ON proposals (tenant_id, status, created_at, proposal_id);
-- Work queues of the worker: proposals to embed and check, approved proposals to apply.
CREATE INDEX proposals_unembedded ON proposals (proposal_id)
    WHERE embedding IS NULL AND status IN ('pending', 'approved');
CREATE INDEX proposals_approved ON proposals (proposal_id) WHERE status = 'approved';
-- Duplicate check among a tenant's pending proposals: an exact scan of their vectors.
CREATE INDEX proposals_pending_embedded ON proposals (tenant_id)
    WHERE status = 'pending' AND embedding IS NOT NULL;

-- Every decision on a proposal: who, when, what, why.
CREATE TABLE proposal_audit (
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    audit_id    bigint GENERATED ALWAYS AS IDENTITY,
    proposal_id bigint NOT NULL,
    action      text NOT NULL
                CHECK (action IN ('created', 'edited', 'approved', 'rejected', 'applied',
                                  'rolled_back')),
    actor       text NOT NULL,
    note        text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, audit_id),
    FOREIGN KEY (tenant_id, proposal_id) REFERENCES proposals ON DELETE CASCADE
);
CREATE INDEX proposal_audit_proposal ON proposal_audit (tenant_id, proposal_id, audit_id);

-- The question an impression answered, or NULL.
CREATE FUNCTION learnloop_impression_query(tenant text, impression uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT query FROM impressions WHERE tenant_id = tenant AND impression_id = impression
$$;

-- Negative feedback: a pending proposal to revise the item (or answer) that was rated.
-- It proposes no content: a reviewer writes it before approving.
CREATE FUNCTION learnloop_propose_from_feedback() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target items%ROWTYPE;
BEGIN
    SELECT * INTO target FROM items WHERE tenant_id = NEW.tenant_id AND item_id = NEW.item_id;
    INSERT INTO proposals (tenant_id, source, source_id, item_id, kind, title, rationale,
                           confidence, attrs)
    VALUES (NEW.tenant_id, 'feedback', NEW.feedback_id, target.item_id,
            coalesce(target.kind, 'faq'),
            left(coalesce(target.title,
                          nullif(btrim(learnloop_impression_query(NEW.tenant_id,
                                                                  NEW.impression_id)), ''),
                          'Response ' || coalesce(NEW.response_id, NEW.impression_id::text)),
                 500),
            format('%s %s%s', NEW.kind, NEW.value, coalesce(': ' || NEW.reason, '')),
            least(100, round(abs(NEW.score) * 50)),
            jsonb_strip_nulls(jsonb_build_object(
                'impression_id', NEW.impression_id, 'response_id', NEW.response_id)))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER feedback_proposes AFTER INSERT ON feedback
    FOR EACH ROW WHEN (NEW.negative) EXECUTE FUNCTION learnloop_propose_from_feedback();

-- Every correction: a proposal with the corrected answer, its confidence set by the priority.
-- Urgent ones are approved at once. Without a target item, it becomes a 'correction' item
-- titled by the question (or the original response).
CREATE FUNCTION learnloop_propose_from_correction() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target items%ROWTYPE;
    urgent boolean := NEW.priority = 'urgent';
    created bigint;
BEGIN
    SELECT * INTO target FROM items WHERE tenant_id = NEW.tenant_id AND item_id = NEW.item_id;
    INSERT INTO proposals (tenant_id, source, source_id, item_id, kind, title, body, rationale,
                           confidence, attrs, status, reviewer, review_note, reviewed_at)
    VALUES (NEW.tenant_id, 'correction', NEW.correction_id, target.item_id,
            coalesce(target.kind, 'correction'),
            left(coalesce(target.title, nullif(btrim(NEW.query), ''),
                          nullif(btrim(learnloop_impression_query(NEW.tenant_id,
                                                                  NEW.impression_id)), ''),
                          nullif(btrim(NEW.original_response), ''),
                          'Correction ' || NEW.correction_id), 500),
            NEW.corrected_answer,
            format('%s-priority correction by %s', NEW.priority, coalesce(NEW.author, 'an owner')),
            CASE NEW.priority WHEN 'low' THEN 40 WHEN 'normal' THEN 60 WHEN 'high' THEN 80
                              ELSE 95 END,
            jsonb_strip_nulls(jsonb_build_object(
                'question', coalesce(nullif(btrim(NEW.query), ''),
                                     learnloop_impression_query(NEW.tenant_id, NEW.impression_id)),
                'original_response', left(NEW.original_response, 5000),
                'impression_id', NEW.impression_id, 'response_id', NEW.response_id)),
            CASE WHEN urgent THEN 'approved' ELSE 'pending' END,
            CASE WHEN urgent THEN 'auto:urgent' END,
            CASE WHEN urgent THEN 'urgent corrections skip review' END,
            CASE WHEN urgent THEN now() END)
    ON CONFLICT DO NOTHING
    RETURNING proposal_id INTO created;
    IF urgent AND created IS NOT NULL THEN
        INSERT INTO proposal_audit (tenant_id, proposal_id, action, actor, note)
        VALUES (NEW.tenant_id, created, 'approved', 'auto:urgent',
                'urgent corrections skip review');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER corrections_propose AFTER INSERT ON corrections
    FOR EACH ROW EXECUTE FUNCTION learnloop_propose_from_correction();

-- A negative-sentiment transcript: a pending proposal; the call is its evidence, and a
-- reviewer writes the knowledge it calls for.
CREATE FUNCTION learnloop_propose_from_transcript() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proposals (tenant_id, source, source_id, kind, title, rationale, confidence,
                           attrs)
    VALUES (NEW.tenant_id, 'transcript', NEW.transcript_id, 'faq',
            left(btrim(NEW.text), 200),
            format('negative call (sentiment %s): %s', round(NEW.sentiment::numeric, 2),
                   left(NEW.text, 5000)),
            least(100, round(abs(NEW.sentiment) * 60)),
            jsonb_strip_nulls(jsonb_build_object(
                'transcript_id', NEW.transcript_id, 'account_id', NEW.account_id,
                'conversation_id', NEW.conversation_id)))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER transcripts_propose AFTER INSERT ON transcripts
    FOR EACH ROW WHEN (NEW.sentiment_label = 'negative')
    EXECUTE FUNCTION learnloop_propose_from_transcript();

-- A completed playbook report: a proposal of a 'report' item with its summary and outcomes.
CREATE FUNCTION learnloop_propose_from_report() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    outcomes text;
    steps text;
BEGIN
    SELECT string_agg(format('- %s: %s -> %s%s', o ->> 'metric',
                             coalesce(trim_scale((o ->> 'before')::numeric)::text, '?'),
                             coalesce(trim_scale((o ->> 'after')::numeric)::text, '?'),
                             coalesce(' ' || (o ->> 'unit'), '')),
                      E'\n')
    INTO outcomes FROM jsonb_array_elements(NEW.outcomes) AS o;
    SELECT string_agg('- ' || s, E'\n') INTO steps FROM jsonb_array_elements_text(NEW.next_steps) AS s;
    INSERT INTO proposals (tenant_id, source, source_id, kind, external_id, title, body, tags,
                           rationale, confidence, attrs)
    VALUES (NEW.tenant_id, 'report', NEW.report_id, 'report',
            'report-' || NEW.report_id,
            left(format('%s: %s', NEW.playbook, NEW.account), 500),
            concat_ws(E'\n\n', nullif(NEW.executive_summary, ''),
                      'Outcomes:' || E'\n' || outcomes, 'Next steps:' || E'\n' || steps),
            ARRAY['playbook-report'],
            format('playbook completed, %s of %s steps', NEW.steps_completed, NEW.steps_total),
            CASE WHEN NEW.steps_completed = NEW.steps_total THEN 70 ELSE 50 END,
            jsonb_strip_nulls(jsonb_build_object(
                'report_id', NEW.report_id, 'account', NEW.account, 'playbook', NEW.playbook,
                'playbook_item_id', NEW.playbook_item_id, 'outcomes', NEW.outcomes)))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER reports_propose AFTER INSERT OR UPDATE OF status ON reports
    FOR EACH ROW WHEN (NEW.status = 'completed')
    EXECUTE FUNCTION learnloop_propose_from_report();

-- Daily learning metrics: proposals by tenant, day, source and status.
CREATE MATERIALIZED VIEW learning_metrics_daily AS
SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, source, status,
       count(*) AS proposals,
       avg(confidence)::real AS avg_confidence,
       count(*) FILTER (WHERE duplicate_item_id IS NOT NULL
                           OR duplicate_proposal_id IS NOT NULL) AS duplicates,
       (avg(extract(epoch FROM reviewed_at - created_at)))::real AS avg_review_seconds
FROM proposals
GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX learning_metrics_daily_key
    ON learning_metrics_daily (tenant_id, day, source, status);

-- Daily response performance: impressions, what happened next, and how answers were rated.
CREATE MATERIALIZED VIEW response_performance_daily AS
WITH shown AS (
    SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS impressions,
           count(*) FILTER (WHERE strategy = 'no_confident_match') AS no_match
    FROM impressions GROUP BY 1, 2
), acted AS (
    SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
           count(*) FILTER (WHERE type = 'viewed') AS viewed,
           count(*) FILTER (WHERE type = 'clicked') AS clicked,
           count(*) FILTER (WHERE type = 'executed') AS executed,
           count(*) FILTER (WHERE type = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE type = 'failed') AS failed,
           count(*) FILTER (WHERE type = 'dismissed') AS dismissed
    FROM events GROUP BY 1, 2
), rated AS (
    SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS feedback,
           count(*) FILTER (WHERE negative) AS negative_feedback, avg(score)::real AS avg_score
    FROM feedback GROUP BY 1, 2
), corrected AS (
    SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS corrections
    FROM corrections GROUP BY 1, 2
)
SELECT tenant_id, day,
       coalesce(impressions, 0) AS impressions, coalesce(no_match, 0) AS no_match,
       coalesce(viewed, 0) AS viewed, coalesce(clicked, 0) AS clicked,
       coalesce(executed, 0) AS executed, coalesce(succeeded, 0) AS succeeded,
       coalesce(failed, 0) AS failed, coalesce(dismissed, 0) AS dismissed,
       coalesce(feedback, 0) AS feedback, coalesce(negative_feedback, 0) AS negative_feedback,
       avg_score, coalesce(corrections, 0) AS corrections,
       (succeeded::real / nullif(succeeded + failed, 0))::real AS success_rate
FROM shown
FULL JOIN acted USING (tenant_id, day)
FULL JOIN rated USING (tenant_id, day)
FULL JOIN corrected USING (tenant_id, day);
CREATE UNIQUE INDEX response_performance_daily_key ON response_performance_daily (tenant_id, day);

-- Both metric views, refreshed without blocking their readers.
CREATE FUNCTION learnloop_refresh_learning_views() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY learning_metrics_daily;
    REFRESH MATERIALIZED VIEW CONCURRENTLY response_performance_daily;
END $$;
