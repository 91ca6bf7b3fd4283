-- Review of issue 11 (D3). A due was keyed by household and period alone, so a community's import of a household
-- and period another community already had rewrote that community's amount (and left the row in the other
-- community): dues are keyed by community, household and period now.
--
-- And a household belongs to one community: `household_community` records the community that first named each
-- household (in a grid cell, a visit, a due or a payment), so an op of another community naming it is refused as
-- `other_community`. Filled here from the tables that already say whose a household is (visits and the fee ledger);
-- households only ever added to a grid cell before this migration are known from their community's state alone
-- (operations.md). The op log is not read: its layout is not this migration's to rely on.
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

CREATE TABLE household_community (
    household TEXT PRIMARY KEY NOT NULL,
    community_id BIGINT NOT NULL
);
INSERT OR IGNORE INTO household_community (household, community_id)
    SELECT household, MIN(community_id) FROM (
        -- `visits` holds ids as 16-byte blobs since the lean op log (2026-12-02-000200); the fee ledger and this
        -- table as text, hyphenated lower-case.
        SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4)
            || '-' || substr(h, 21, 12) AS household, community_id
            FROM (SELECT lower(hex(household)) AS h, community_id FROM visits)
        UNION ALL SELECT household, community_id FROM fee_dues
        UNION ALL SELECT household, community_id FROM fee_payments
    ) GROUP BY household;
