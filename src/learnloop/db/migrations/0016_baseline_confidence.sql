-- The baseline's confidence of each candidate before the tenant's calibration curve
-- (learnloop.recommend.confidence): what `learning calibrate` fits on. `relevance` holds it
-- after the curve (what the policy ranked on), so a refit on `relevance` would learn a map
-- from calibrated values while being applied to raw ones.
ALTER TABLE impression_items ADD COLUMN baseline_confidence double precision
    CHECK (baseline_confidence BETWEEN 0 AND 1);

-- Rows logged before it was kept: `relevance` was the raw baseline confidence wherever the
-- tenant had no stored curve, so those rows keep their evidence. A tenant with a curve may
-- have logged them through it (or through an earlier one); they stay NULL and calibration
-- leaves them out.
UPDATE impression_items AS c SET baseline_confidence = c.relevance
WHERE c.relevance IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM learn_models AS m
                  WHERE m.tenant_id = c.tenant_id AND m.name = 'calibration');
