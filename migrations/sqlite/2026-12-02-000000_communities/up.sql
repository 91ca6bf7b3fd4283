-- Communities as tenants (issue #11). A community (社区) of a street office (街道) owns its users, devices, op log
-- and report rows; its ops are numbered on their own, `(community_id, seq)`, and `community_head` holds the last
-- number given, the row a writer bumps in its commit transaction (on PostgreSQL: the row lock that serialises one
-- community's writers until commit, ADR 0005).
--
-- The database as it was becomes community 1, nothing lost: every op keeps its sequence number, every user their
-- account. A district admin is an `admin` with no community. The report columns default to community 1; the op log
-- cannot be written by the previous release (no community, no head row): stop it before upgrading (operations.md).
CREATE TABLE communities (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    street_office TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
INSERT INTO communities (id, name, street_office, created_ms)
    VALUES (1, 'community 1', '', CAST(strftime('%s', 'now') AS INTEGER) * 1000);

CREATE TABLE community_head (
    community_id BIGINT PRIMARY KEY NOT NULL REFERENCES communities (id),
    last_seq BIGINT NOT NULL
);
INSERT INTO community_head (community_id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM op_log;

-- NULL only for a district admin (checked by the code that creates users).
ALTER TABLE users ADD COLUMN community_id BIGINT;
UPDATE users SET community_id = 1;
ALTER TABLE devices ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;

-- The op log keyed by community and sequence number; op ids stay unique across all communities.
CREATE TABLE op_log_new (
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
INSERT INTO op_log_new
    SELECT 1, seq, op_id, device_id, author, kind, entity, grid, hlc_wall_ms, hlc_logical, received_ms, body
    FROM op_log ORDER BY seq;
DROP TABLE op_log;
ALTER TABLE op_log_new RENAME TO op_log;

ALTER TABLE grid_cells ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tickets ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE entries ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE visits ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE card_movements ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE cards ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE fee_dues ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE fee_payments ADD COLUMN community_id BIGINT NOT NULL DEFAULT 1;
