-- Less b-tree work per ingested op (issue #4's throughput): every index is one more b-tree insert per row.
-- * `op_log_entity` served no query.
-- * A visit was written twice, to `entries` and to `visits`; `visits` holds all of it (a visit needs no
--   approval: it is recorded or void), so `entries` now holds service activities only.
-- * `entries` and `visits` are keyed by a text id: as WITHOUT ROWID tables the key is the table, not a second
--   b-tree beside a rowid one.
-- The code before this migration still runs on the new schema (it would write visits to `entries` again).
DROP INDEX op_log_entity;

CREATE TABLE entries_new (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    volunteer TEXT NOT NULL,
    grid TEXT NOT NULL,
    status TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL,
    activity TEXT,
    minutes BIGINT,
    approved_minutes BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO entries_new SELECT * FROM entries WHERE kind <> 'visit';
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_grid ON entries (grid);
CREATE INDEX entries_volunteer ON entries (volunteer);

CREATE TABLE visits_new (
    entry_id TEXT PRIMARY KEY NOT NULL,
    volunteer TEXT NOT NULL,
    grid TEXT NOT NULL,
    household TEXT NOT NULL,
    seen BOOLEAN NOT NULL,
    health TEXT,
    follow_up TEXT,
    visited_ms BIGINT NOT NULL,
    voided BOOLEAN NOT NULL
) WITHOUT ROWID;
INSERT INTO visits_new SELECT * FROM visits;
DROP TABLE visits;
ALTER TABLE visits_new RENAME TO visits;
CREATE INDEX visits_grid_time ON visits (grid, visited_ms);
