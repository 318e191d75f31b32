-- Each candidate's probability of being displayed first under the policy that logged the
-- impression (learnloop.learn.policies: the threshold applied), shown or not: offline
-- evaluation reads it to measure how much of another policy's choices the log supports.
-- NULL for impressions logged before it was kept.
ALTER TABLE impression_items ADD COLUMN first_propensity double precision
    CHECK (first_propensity BETWEEN 0 AND 1);
