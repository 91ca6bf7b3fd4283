-- The op log: every accepted op once, in server order, with its canonical JSON; and the tables that materialise
-- the merged state for reports, written in the same transaction as the ops that changed them.
CREATE TABLE op_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    op_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    grid TEXT,
    hlc_wall_ms BIGINT NOT NULL,
    hlc_logical BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX op_log_entity ON op_log (entity);

CREATE TABLE grid_cells (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    community TEXT,
    households BIGINT NOT NULL,
    elderly_alone BIGINT NOT NULL,
    workers BIGINT NOT NULL,
    butlers BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL
);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    grid TEXT,
    status TEXT NOT NULL,
    channel TEXT,
    category TEXT,
    complexity TEXT NOT NULL,
    created_ms BIGINT,
    taken_ms BIGINT,
    on_site_ms BIGINT,
    solved_ms BIGINT,
    planned_ms BIGINT,
    answered_ms BIGINT,
    satisfaction BIGINT,
    -- (request type and close time are read from the op log; diesel tables stay within 16 columns.)
    -- The 5-20-2-2 evaluation (JSON) as of the op that last changed the ticket; reports re-evaluate pending steps.
    verdicts TEXT NOT NULL,
    compliant BOOLEAN,
    updated_seq BIGINT NOT NULL
);
CREATE INDEX tickets_grid ON tickets (grid);

CREATE TABLE entries (
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
CREATE INDEX entries_grid ON entries (grid);
CREATE INDEX entries_volunteer ON entries (volunteer);

CREATE TABLE visits (
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
CREATE INDEX visits_grid_time ON visits (grid, visited_ms);

CREATE TABLE card_movements (
    op_id TEXT PRIMARY KEY NOT NULL,
    volunteer TEXT NOT NULL,
    kind TEXT NOT NULL,
    points BIGINT NOT NULL,
    replica TEXT NOT NULL,
    entry_id TEXT,
    to_replica TEXT,
    purpose TEXT,
    hlc_wall_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX card_movements_volunteer ON card_movements (volunteer);

CREATE TABLE cards (
    volunteer TEXT PRIMARY KEY NOT NULL,
    credited BIGINT NOT NULL,
    redeemed BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL
);
