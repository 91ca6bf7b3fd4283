-- Back to rowid tables, visits listed in `entries` again (rebuilt from `visits`; their `updated_seq` is lost and
-- written as 0), and the entity index.
CREATE TABLE visits_old (
    entry_id TEXT PRIMARY KEY NOT NULL,
    volunteer TEXT NOT NULL,
    grid TEXT NOT NULL,
    household TEXT NOT NULL,
    seen BOOLEAN NOT NULL,
    health TEXT,
    follow_up TEXT,
    visited_ms BIGINT NOT NULL,
    voided BOOLEAN NOT NULL
);
INSERT INTO visits_old SELECT * FROM visits;
DROP TABLE visits;
ALTER TABLE visits_old RENAME TO visits;
CREATE INDEX visits_grid_time ON visits (grid, visited_ms);

CREATE TABLE entries_old (
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
);
INSERT INTO entries_old SELECT * FROM entries;
INSERT INTO entries_old
    SELECT entry_id, 'visit', volunteer, grid, CASE WHEN voided THEN 'void' ELSE 'recorded' END, visited_ms,
           NULL, NULL, 0, 0
    FROM visits;
DROP TABLE entries;
ALTER TABLE entries_old RENAME TO entries;
CREATE INDEX entries_grid ON entries (grid);
CREATE INDEX entries_volunteer ON entries (volunteer);

CREATE INDEX op_log_entity ON op_log (entity);
