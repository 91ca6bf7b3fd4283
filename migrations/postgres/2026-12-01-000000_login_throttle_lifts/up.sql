-- Login throttles lifted from the command line (`linli user unthrottle`), for the running server to apply: its
-- throttle lives in memory, so the CLI leaves the lift here and the server reads the new ones at most once a second
-- while it refuses logins. One row per username, the latest lift.
CREATE TABLE login_throttle_lifts (
    username TEXT PRIMARY KEY NOT NULL,
    lifted_ms BIGINT NOT NULL
);
