-- The property office's fee ledger: dues imported from its CSV files (one amount per household and period; a
-- re-import replaces it) and the cash payments it records. Green-card offsets are not stored here: they are card
-- redemptions in the op log, joined in by the fee report.
CREATE TABLE fee_dues (
    household TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    imported_ms BIGINT NOT NULL,
    PRIMARY KEY (household, period)
);

CREATE TABLE fee_payments (
    id TEXT PRIMARY KEY NOT NULL,
    household TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX fee_payments_period ON fee_payments (period);
