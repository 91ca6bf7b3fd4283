DROP TABLE IF EXISTS maintenance;
-- Back to text ids and whole JSON bodies. Rows of format 2 (zstd-compressed) are inflated by `linli_inflate_body`,
-- a function the server registers on its connections (plain SQL cannot inflate zstd): run by `linli` this goes
-- down; in the sqlite3 shell it fails ("no such function") and changes nothing. A body that does not inflate
-- gives NULL, and the NOT NULL on `body` fails the migration: nothing is written back half-right.
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
    SELECT o.community_id, o.seq, (substr(lower(hex(o.op_id)), 1, 8) || '-' || substr(lower(hex(o.op_id)), 9, 4) || '-' || substr(lower(hex(o.op_id)), 13, 4) || '-' || substr(lower(hex(o.op_id)), 17, 4) || '-' || substr(lower(hex(o.op_id)), 21)), (substr(lower(hex(o.device_id)), 1, 8) || '-' || substr(lower(hex(o.device_id)), 9, 4) || '-' || substr(lower(hex(o.device_id)), 13, 4) || '-' || substr(lower(hex(o.device_id)), 17, 4) || '-' || substr(lower(hex(o.device_id)), 21)), (substr(lower(hex(o.author)), 1, 8) || '-' || substr(lower(hex(o.author)), 9, 4) || '-' || substr(lower(hex(o.author)), 13, 4) || '-' || substr(lower(hex(o.author)), 17, 4) || '-' || substr(lower(hex(o.author)), 21)), k.name,
        (substr(lower(hex(o.entity)), 1, 8) || '-' || substr(lower(hex(o.entity)), 9, 4) || '-' || substr(lower(hex(o.entity)), 13, 4) || '-' || substr(lower(hex(o.entity)), 17, 4) || '-' || substr(lower(hex(o.entity)), 21)), CASE WHEN o.grid IS NOT NULL THEN (substr(lower(hex(o.grid)), 1, 8) || '-' || substr(lower(hex(o.grid)), 9, 4) || '-' || substr(lower(hex(o.grid)), 13, 4) || '-' || substr(lower(hex(o.grid)), 17, 4) || '-' || substr(lower(hex(o.grid)), 21)) END, o.hlc_wall_ms, o.hlc_logical,
        o.received_ms,
        CASE o.format
            WHEN 0 THEN CAST(o.body AS TEXT)
            WHEN 1 THEN '{"author":"' || (substr(lower(hex(o.author)), 1, 8) || '-' || substr(lower(hex(o.author)), 9, 4) || '-' || substr(lower(hex(o.author)), 13, 4) || '-' || substr(lower(hex(o.author)), 17, 4) || '-' || substr(lower(hex(o.author)), 21)) || '","body":' || CAST(o.body AS TEXT) || ',"entity":"'
                || (substr(lower(hex(o.entity)), 1, 8) || '-' || substr(lower(hex(o.entity)), 9, 4) || '-' || substr(lower(hex(o.entity)), 13, 4) || '-' || substr(lower(hex(o.entity)), 17, 4) || '-' || substr(lower(hex(o.entity)), 21)) || '","id":"' || (substr(lower(hex(o.op_id)), 1, 8) || '-' || substr(lower(hex(o.op_id)), 9, 4) || '-' || substr(lower(hex(o.op_id)), 13, 4) || '-' || substr(lower(hex(o.op_id)), 17, 4) || '-' || substr(lower(hex(o.op_id)), 21)) || '","kind":"' || k.name
                || '","replica":"' || (substr(lower(hex(coalesce(o.replica, o.device_id))), 1, 8) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 9, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 13, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 17, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 21)) || '","time":{"logical":'
                || o.hlc_logical || ',"wall_ms":' || o.hlc_wall_ms || '},"v":1}'
            WHEN 2 THEN '{"author":"' || (substr(lower(hex(o.author)), 1, 8) || '-' || substr(lower(hex(o.author)), 9, 4) || '-' || substr(lower(hex(o.author)), 13, 4) || '-' || substr(lower(hex(o.author)), 17, 4) || '-' || substr(lower(hex(o.author)), 21)) || '","body":' || CAST(linli_inflate_body(o.body) AS TEXT)
                || ',"entity":"' || (substr(lower(hex(o.entity)), 1, 8) || '-' || substr(lower(hex(o.entity)), 9, 4) || '-' || substr(lower(hex(o.entity)), 13, 4) || '-' || substr(lower(hex(o.entity)), 17, 4) || '-' || substr(lower(hex(o.entity)), 21)) || '","id":"' || (substr(lower(hex(o.op_id)), 1, 8) || '-' || substr(lower(hex(o.op_id)), 9, 4) || '-' || substr(lower(hex(o.op_id)), 13, 4) || '-' || substr(lower(hex(o.op_id)), 17, 4) || '-' || substr(lower(hex(o.op_id)), 21)) || '","kind":"' || k.name
                || '","replica":"' || (substr(lower(hex(coalesce(o.replica, o.device_id))), 1, 8) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 9, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 13, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 17, 4) || '-' || substr(lower(hex(coalesce(o.replica, o.device_id))), 21)) || '","time":{"logical":'
                || o.hlc_logical || ',"wall_ms":' || o.hlc_wall_ms || '},"v":1}'
        END
    FROM op_log AS o
    -- LEFT: a row whose kind code the table does not name fails `kind NOT NULL` (the whole migration with it)
    -- rather than being left out.
    LEFT JOIN op_kinds AS k ON k.code = o.kind
    ORDER BY o.community_id, o.seq;
DROP TABLE op_log;
ALTER TABLE op_log_old RENAME TO op_log;
DROP TABLE op_kinds;

CREATE TABLE visits_old (
    entry_id TEXT PRIMARY KEY NOT NULL,
    volunteer TEXT NOT NULL,
    grid TEXT NOT NULL,
    household TEXT NOT NULL,
    seen BOOLEAN NOT NULL,
    health TEXT,
    follow_up TEXT,
    visited_ms BIGINT NOT NULL,
    voided BOOLEAN NOT NULL,
    community_id BIGINT NOT NULL DEFAULT 1
) WITHOUT ROWID;
INSERT INTO visits_old
    SELECT (substr(lower(hex(entry_id)), 1, 8) || '-' || substr(lower(hex(entry_id)), 9, 4) || '-' || substr(lower(hex(entry_id)), 13, 4) || '-' || substr(lower(hex(entry_id)), 17, 4) || '-' || substr(lower(hex(entry_id)), 21)), (substr(lower(hex(volunteer)), 1, 8) || '-' || substr(lower(hex(volunteer)), 9, 4) || '-' || substr(lower(hex(volunteer)), 13, 4) || '-' || substr(lower(hex(volunteer)), 17, 4) || '-' || substr(lower(hex(volunteer)), 21)), (substr(lower(hex(grid)), 1, 8) || '-' || substr(lower(hex(grid)), 9, 4) || '-' || substr(lower(hex(grid)), 13, 4) || '-' || substr(lower(hex(grid)), 17, 4) || '-' || substr(lower(hex(grid)), 21)), (substr(lower(hex(household)), 1, 8) || '-' || substr(lower(hex(household)), 9, 4) || '-' || substr(lower(hex(household)), 13, 4) || '-' || substr(lower(hex(household)), 17, 4) || '-' || substr(lower(hex(household)), 21)), seen, health,
        CASE WHEN follow_up IS NOT NULL THEN (substr(lower(hex(follow_up)), 1, 8) || '-' || substr(lower(hex(follow_up)), 9, 4) || '-' || substr(lower(hex(follow_up)), 13, 4) || '-' || substr(lower(hex(follow_up)), 17, 4) || '-' || substr(lower(hex(follow_up)), 21)) END, visited_ms, voided, community_id
    FROM visits;
DROP TABLE visits;
ALTER TABLE visits_old RENAME TO visits;
CREATE INDEX visits_grid_time ON visits (grid, visited_ms);
