-- Review of issue 11 (D3): dues keyed by community, household and period; and `household_community`, the
-- community that first named each household. PostgreSQL twin of
-- migrations/sqlite/2026-12-02-000300_fee_dues_by_community (read its header). `fee_dues` is rebuilt, as on
-- SQLite, so that its columns come in the same order on both.
CREATE TABLE fee_dues_new (
    community_id BIGINT NOT NULL,
    household TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    imported_ms BIGINT NOT NULL,
    PRIMARY KEY (community_id, household, period)
);
INSERT INTO fee_dues_new (community_id, household, period, amount_fen, imported_ms)
    SELECT community_id, household, period, amount_fen, imported_ms FROM fee_dues;
DROP TABLE fee_dues;
ALTER TABLE fee_dues_new RENAME TO fee_dues;
ALTER TABLE fee_dues RENAME CONSTRAINT fee_dues_new_pkey TO fee_dues_pkey;

CREATE TABLE household_community (
    household TEXT PRIMARY KEY NOT NULL,
    community_id BIGINT NOT NULL
);
INSERT INTO household_community (household, community_id)
    SELECT household, MIN(community_id) FROM (
        -- `visits` holds ids as 16-byte strings since the lean op log (2026-12-02-000200); the fee ledger and this
        -- table as text, hyphenated lower-case.
        SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4)
            || '-' || substr(h, 21, 12) AS household, community_id
            FROM (SELECT encode(household, 'hex') AS h, community_id FROM visits) AS v
        UNION ALL SELECT household, community_id FROM fee_dues
        UNION ALL SELECT household, community_id FROM fee_payments
    ) AS named GROUP BY household
    ON CONFLICT DO NOTHING;
