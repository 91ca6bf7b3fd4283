-- Back to dues keyed by household and period: where two communities had a due for the same household and period
-- (possible only after the up migration), the lowest community's is kept.
DROP TABLE household_community;
CREATE TABLE fee_dues_old (
    household TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    imported_ms BIGINT NOT NULL,
    community_id BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (household, period)
);
INSERT INTO fee_dues_old (household, period, amount_fen, imported_ms, community_id)
    SELECT DISTINCT ON (household, period) household, period, amount_fen, imported_ms, community_id
    FROM fee_dues ORDER BY household, period, community_id;
DROP TABLE fee_dues;
ALTER TABLE fee_dues_old RENAME TO fee_dues;
ALTER TABLE fee_dues RENAME CONSTRAINT fee_dues_old_pkey TO fee_dues_pkey;
