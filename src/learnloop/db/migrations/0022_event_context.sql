-- Where an event happened, as the click-tracking design names it: the page the person was on
-- (page_context: a small JSON object such as {"path": "/alerts/42", "title": "Disk full"})
-- and where they came from (referrer: a label such as "ai_chat", "search", "alert_page", or a
-- URL). Both are optional; events stored before this migration have neither. Funnels by
-- referrer (learnloop.analytics.referrers) group an impression's events by the referrer of
-- its first event that names one.
ALTER TABLE events ADD COLUMN page_context jsonb;
ALTER TABLE events ADD COLUMN referrer text;
