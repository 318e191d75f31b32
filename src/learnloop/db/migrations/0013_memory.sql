-- The memory of the `memory` policy (learnloop.learn.memory): the vector of the question of
-- every logged impression. Its nearest neighbours' outcomes (learn_outcomes) are what the
-- policy reads. Any dimension: the embedder named made it, and only vectors of the embedder
-- in use are read, so two embedders' vectors are never compared.
CREATE TABLE impression_vectors (
    tenant_id     text NOT NULL,
    impression_id uuid NOT NULL,
    embedder      text NOT NULL,
    query_vector  vector NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, impression_id),
    FOREIGN KEY (tenant_id, impression_id) REFERENCES impressions ON DELETE CASCADE
);
CREATE INDEX impression_vectors_recent ON impression_vectors (tenant_id, embedder, created_at DESC);

-- The baseline's confidence of each candidate (before the policy's own), which calibration
-- is fitted on; NULL for impressions logged before it was kept.
ALTER TABLE impression_items ADD COLUMN relevance double precision
    CHECK (relevance BETWEEN 0 AND 1);
