-- Two transactions creating the same month's partition at once: the second could miss the
-- first one's table after taking the advisory lock (its catalog cache was not refreshed by
-- an advisory lock) and fail with duplicate_table. Such a table is now taken as found.
CREATE OR REPLACE FUNCTION learnloop_event_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    name text := format('events_%s', to_char(month_start, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext(name));
        BEGIN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, month_start::timestamp AT TIME ZONE 'UTC',
                (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- made by a concurrent transaction meanwhile
        END;
    END IF;
    RETURN name;
END $$;
