-- Less work per ingested op (issue #4's throughput): every index is one more b-tree insert per row.
-- PostgreSQL twin of migrations/sqlite/2026-11-28-000300_lean_ingest:
-- * `op_log_entity` served no query.
-- * `visits` holds all of a visit, so `entries` now holds service activities only.
-- * SQLite rebuilt `entries` and `visits` as WITHOUT ROWID tables; PostgreSQL has no such layout (a heap and its
--   primary key index either way), so the tables stay and only the visit rows leave `entries`.
DROP INDEX op_log_entity;
DELETE FROM entries WHERE kind = 'visit';
