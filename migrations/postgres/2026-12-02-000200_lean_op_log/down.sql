DROP TABLE IF EXISTS maintenance;
-- Back to text ids and whole JSON bodies. On SQLite, rows of format 2 (zstd-compressed) are inflated by a function
-- the server registers on its connections; PostgreSQL has no such function, so a log holding a format-2 row is
-- refused here, before anything is written: nothing is written back half-right.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM op_log WHERE format NOT IN (0, 1)) THEN
        RAISE EXCEPTION 'the op log holds compressed (format 2) rows, which SQL on PostgreSQL cannot inflate';
    END IF;
END
$$;
CREATE FUNCTION pg_temp.linli_uuid_text(b BYTEA) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-'
        || substr(h, 21)
    FROM (SELECT encode(b, 'hex') AS h) AS x
$$;
CREATE TABLE op_log_old (
    community_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    op_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    grid TEXT,
    hlc_wall_ms BIGINT NOT NULL,
    hlc_logical BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (community_id, seq)
);
INSERT INTO op_log_old
    SELECT o.community_id, o.seq, pg_temp.linli_uuid_text(o.op_id), pg_temp.linli_uuid_text(o.device_id),
        pg_temp.linli_uuid_text(o.author), k.name, pg_temp.linli_uuid_text(o.entity),
        pg_temp.linli_uuid_text(o.grid), o.hlc_wall_ms, o.hlc_logical, o.received_ms,
        CASE o.format
            WHEN 0 THEN convert_from(o.body, 'UTF8')
            WHEN 1 THEN '{"author":"' || pg_temp.linli_uuid_text(o.author) || '","body":'
                || convert_from(o.body, 'UTF8') || ',"entity":"' || pg_temp.linli_uuid_text(o.entity) || '","id":"'
                || pg_temp.linli_uuid_text(o.op_id) || '","kind":"' || k.name || '","replica":"'
                || pg_temp.linli_uuid_text(coalesce(o.replica, o.device_id)) || '","time":{"logical":'
                || o.hlc_logical || ',"wall_ms":' || o.hlc_wall_ms || '},"v":1}'
        END
    FROM op_log AS o
    -- LEFT: a row whose kind code the table does not name fails `kind NOT NULL` (the whole migration with it)
    -- rather than being left out.
    LEFT JOIN op_kinds AS k ON k.code = o.kind
    ORDER BY o.community_id, o.seq;
DROP TABLE op_log;
ALTER TABLE op_log_old RENAME TO op_log;
ALTER TABLE op_log RENAME CONSTRAINT op_log_old_pkey TO op_log_pkey;
ALTER TABLE op_log RENAME CONSTRAINT op_log_old_op_id_key TO op_log_op_id_key;
DROP TABLE op_kinds;

ALTER TABLE visits
    ALTER COLUMN entry_id TYPE TEXT USING pg_temp.linli_uuid_text(entry_id),
    ALTER COLUMN volunteer TYPE TEXT USING pg_temp.linli_uuid_text(volunteer),
    ALTER COLUMN grid TYPE TEXT USING pg_temp.linli_uuid_text(grid),
    ALTER COLUMN household TYPE TEXT USING pg_temp.linli_uuid_text(household),
    ALTER COLUMN follow_up TYPE TEXT USING pg_temp.linli_uuid_text(follow_up);
DROP FUNCTION pg_temp.linli_uuid_text(BYTEA);
