-- Back to one op log for the whole database: every community's ops in one sequence (community by community, each
-- in its own order), nothing dropped. Users of other communities stay, as users of the one deployment; district
-- admins become admins.
CREATE TABLE op_log_old (
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
INSERT INTO op_log_old
    SELECT ROW_NUMBER() OVER (ORDER BY community_id, seq), op_id, device_id, author, kind, entity, grid,
        hlc_wall_ms, hlc_logical, received_ms, body
    FROM op_log;
DROP TABLE op_log;
ALTER TABLE op_log_old RENAME TO op_log;

ALTER TABLE fee_payments DROP COLUMN community_id;
ALTER TABLE fee_dues DROP COLUMN community_id;
ALTER TABLE cards DROP COLUMN community_id;
ALTER TABLE card_movements DROP COLUMN community_id;
ALTER TABLE visits DROP COLUMN community_id;
ALTER TABLE entries DROP COLUMN community_id;
ALTER TABLE tickets DROP COLUMN community_id;
ALTER TABLE grid_cells DROP COLUMN community_id;
ALTER TABLE devices DROP COLUMN community_id;
ALTER TABLE users DROP COLUMN community_id;
DROP TABLE community_head;
DROP TABLE communities;
