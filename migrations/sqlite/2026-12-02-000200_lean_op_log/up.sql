-- The lean op log (issue 11 item 7): a community-year took about 985 bytes per op on disk, 724 of them in the op
-- log (its canonical JSON repeats the ids, kind and time that the columns hold, every id 36 characters of text, and
-- three b-trees: the rowid table, its `(community_id, seq)` key and the unique `op_id`). Now:
-- * ids are 16-byte blobs (`hex(op_id)` in the sqlite3 shell);
-- * the kind is a small code, named in `op_kinds` (join it to read a row by hand; not a foreign key, which would
--   cost every insert a lookup: the server's `op_row::KIND_CODES` is held to this table by a test);
-- * the table is keyed by `(community_id, seq)` itself (WITHOUT ROWID): two b-trees, the key and `op_id`'s;
-- * `body` holds, by the row's `format`:
--     0  the op's whole canonical JSON (an op whose envelope the columns cannot write back: unknown top-level
--        members from a newer phone, another wire version);
--     1  the canonical text between the envelope's `"body":` and its `,"entity":` — the `body` member's value (and
--        an unknown member that sorts between the two, kept in place): the envelope around it is written back from
--        the columns (`author`, `entity`, `op_id`, `kind`, `replica` or else `device_id`, `hlc_logical`,
--        `hlc_wall_ms`, `v` 1);
--     2  format 1 compressed by zstd with dictionary 1, built into the server (`server/data/op_log_dict1.zdict`).
--   The server writes format 2 (or 1 where compression does not pay). This migration, plain SQL, writes format 1
--   where the stored JSON is exactly the envelope around the body (checked byte for byte, else format 0); the
--   server compresses those rows right after migrating (`store::compress_plain_rows`), while the `maintenance` row
--   below says so: a pass cut short, or a migration run by another tool, is finished at the server's next start.
-- * `replica` is NULL when the op's replica is the device that pushed it (always, for a phone's own ops).
-- The visits report table gets binary ids too. Nothing is dropped: every row is copied, and a row the check
-- refuses keeps its whole JSON.
CREATE TABLE op_kinds (
    code INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO op_kinds (code, name) VALUES
    (1, 'ticket.create'),
    (2, 'ticket.edit'),
    (3, 'ticket.assign'),
    (4, 'ticket.unassign'),
    (5, 'ticket.comment'),
    (6, 'ticket.take'),
    (7, 'ticket.arrive'),
    (8, 'ticket.solve'),
    (9, 'ticket.plan'),
    (10, 'ticket.answer'),
    (11, 'ticket.rate'),
    (12, 'ticket.reopen'),
    (13, 'ticket.send_back'),
    (14, 'ticket.close'),
    (15, 'grid.create'),
    (16, 'grid.rename'),
    (17, 'grid.add_household'),
    (18, 'grid.remove_household'),
    (19, 'grid.add_member'),
    (20, 'grid.remove_member'),
    (21, 'grid.assign_visit'),
    (22, 'grid.unassign_visit'),
    (23, 'entry.visit'),
    (24, 'entry.activity'),
    (25, 'entry.approve'),
    (26, 'entry.reject'),
    (27, 'entry.void'),
    (28, 'card.credit'),
    (29, 'card.transfer'),
    (30, 'card.redeem');

CREATE TABLE op_log_new (
    community_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    op_id BLOB NOT NULL UNIQUE,
    device_id BLOB NOT NULL,
    replica BLOB,
    author BLOB NOT NULL,
    kind INTEGER NOT NULL,
    entity BLOB NOT NULL,
    grid BLOB,
    hlc_wall_ms INTEGER NOT NULL,
    hlc_logical INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    format INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (community_id, seq)
) WITHOUT ROWID;

-- Three steps, inside out: the ids as blobs (and the replica named in the JSON); the envelope those columns write
-- back, ids formatted back from the blobs as the server writes them (lower-case, hyphenated); whether the stored
-- JSON is exactly that envelope around a body.
INSERT INTO op_log_new (community_id, seq, op_id, device_id, replica, author, kind, entity, grid, hlc_wall_ms,
        hlc_logical, received_ms, format, body)
    SELECT community_id, seq, id_b, device_b, CASE WHEN lean AND replica_text <> device_t THEN replica_b END,
        author_b, code, entity_b, grid_b, hlc_wall_ms, hlc_logical, received_ms,
        CASE WHEN lean THEN 1 ELSE 0 END,
        CAST(CASE WHEN lean THEN substr(body, length(prefix) + 1, length(body) - length(prefix) - length(suffix))
            ELSE body END AS BLOB)
    FROM (
        SELECT *, coalesce(length(body) > length(prefix) + length(suffix)
                AND substr(body, 1, length(prefix)) = prefix
                AND substr(body, -length(suffix)) = suffix
                AND length(replica_b) = 16, 0) AS lean
        FROM (
            SELECT *,
                (substr(lower(hex(device_b)), 1, 8) || '-' || substr(lower(hex(device_b)), 9, 4) || '-' || substr(lower(hex(device_b)), 13, 4) || '-' || substr(lower(hex(device_b)), 17, 4) || '-' || substr(lower(hex(device_b)), 21)) AS device_t,
                '{"author":"' || (substr(lower(hex(author_b)), 1, 8) || '-' || substr(lower(hex(author_b)), 9, 4) || '-' || substr(lower(hex(author_b)), 13, 4) || '-' || substr(lower(hex(author_b)), 17, 4) || '-' || substr(lower(hex(author_b)), 21)) || '","body":' AS prefix,
                ',"entity":"' || (substr(lower(hex(entity_b)), 1, 8) || '-' || substr(lower(hex(entity_b)), 9, 4) || '-' || substr(lower(hex(entity_b)), 13, 4) || '-' || substr(lower(hex(entity_b)), 17, 4) || '-' || substr(lower(hex(entity_b)), 21)) || '","id":"' || (substr(lower(hex(id_b)), 1, 8) || '-' || substr(lower(hex(id_b)), 9, 4) || '-' || substr(lower(hex(id_b)), 13, 4) || '-' || substr(lower(hex(id_b)), 17, 4) || '-' || substr(lower(hex(id_b)), 21)) || '","kind":"' || kind
                    || '","replica":"' || (substr(lower(hex(replica_b)), 1, 8) || '-' || substr(lower(hex(replica_b)), 9, 4) || '-' || substr(lower(hex(replica_b)), 13, 4) || '-' || substr(lower(hex(replica_b)), 17, 4) || '-' || substr(lower(hex(replica_b)), 21)) || '","time":{"logical":' || hlc_logical
                    || ',"wall_ms":' || hlc_wall_ms || '},"v":1}' AS suffix
            FROM (
                SELECT o.community_id, o.seq, o.kind, o.hlc_wall_ms, o.hlc_logical, o.received_ms, o.body, k.code,
                    unhex(replace(o.op_id, '-', '')) AS id_b,
                    unhex(replace(o.device_id, '-', '')) AS device_b,
                    unhex(replace(o.author, '-', '')) AS author_b,
                    unhex(replace(o.entity, '-', '')) AS entity_b,
                    unhex(replace(o.grid, '-', '')) AS grid_b,
                    -- A body that is not JSON (edited by hand) keeps its text, format 0.
                    CASE WHEN json_valid(o.body) THEN json_extract(o.body, '$.replica') END AS replica_text,
                    CASE WHEN json_valid(o.body) THEN unhex(replace(json_extract(o.body, '$.replica'), '-', ''))
                        END AS replica_b
                FROM op_log AS o
                LEFT JOIN op_kinds AS k ON k.name = o.kind
            )
        )
    )
    ORDER BY community_id, seq;
DROP TABLE op_log;
ALTER TABLE op_log_new RENAME TO op_log;

CREATE TABLE visits_new (
    entry_id BLOB PRIMARY KEY NOT NULL,
    volunteer BLOB NOT NULL,
    grid BLOB NOT NULL,
    household BLOB NOT NULL,
    seen BOOLEAN NOT NULL,
    health TEXT,
    follow_up BLOB,
    visited_ms BIGINT NOT NULL,
    voided BOOLEAN NOT NULL,
    community_id BIGINT NOT NULL DEFAULT 1
) WITHOUT ROWID;
INSERT INTO visits_new
    SELECT unhex(replace(entry_id, '-', '')), unhex(replace(volunteer, '-', '')), unhex(replace(grid, '-', '')),
        unhex(replace(household, '-', '')), seen, health, unhex(replace(follow_up, '-', '')), visited_ms, voided,
        community_id
    FROM visits;
DROP TABLE visits;
ALTER TABLE visits_new RENAME TO visits;
CREATE INDEX visits_grid_time ON visits (grid, visited_ms);

-- Work left for the server after this migration (see the header): one row per task, deleted when done.
CREATE TABLE maintenance (
    task TEXT PRIMARY KEY NOT NULL
);
INSERT INTO maintenance (task) VALUES ('compress_op_log_bodies');
