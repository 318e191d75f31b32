-- Each candidate's place in the search's list (1-based), beside its displayed rank: offline
-- evaluation hands a target policy the candidates in the search's order, as a live request
-- would, not in the order the logging policy displayed them. NULL for impressions logged
-- before it was kept (those are replayed in the displayed order).
ALTER TABLE impression_items ADD COLUMN search_position integer CHECK (search_position >= 1);
