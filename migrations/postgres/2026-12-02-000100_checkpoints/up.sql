-- Checkpoints (issue #11): each community's latest merged state and log index at a sequence number, so loading a
-- community reads this row and the ops after `seq` instead of its whole log. One row per community (the latest
-- only: the log is the truth, a checkpoint only a shortcut, and an unreadable one is rebuilt from the log).
-- `format` is sync-core's checkpoint FORMAT_VERSION the state bytes were written in (the index bytes carry their
-- own version in their header); both blobs carry their own CRC-32.
CREATE TABLE checkpoints (
    community_id BIGINT PRIMARY KEY NOT NULL REFERENCES communities (id),
    seq BIGINT NOT NULL,
    format BIGINT NOT NULL,
    state BYTEA NOT NULL,
    log_index BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
