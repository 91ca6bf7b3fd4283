-- The merge logic a checkpoint was built by (issue #11, review of the checkpoints branch, finding 1): sync-core's
-- STATE_LOGIC and the server's package version, e.g. `1/0.1.0`. A row whose tag is not this build's is not read
-- (the community is rebuilt from its log and a fresh checkpoint written); rows from before this column are ''.
ALTER TABLE checkpoints ADD COLUMN logic TEXT NOT NULL DEFAULT '';
