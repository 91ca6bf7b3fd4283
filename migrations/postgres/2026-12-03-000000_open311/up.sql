-- Open311 GeoReport v2 (issue #13). A client (a city app, the 12345 hotline's system, a FixMyStreet instance) holds
-- an api_key issued by a community's admin; only its SHA-256 is kept, and a revoked key stops working at once.
CREATE TABLE open311_clients (
    id TEXT PRIMARY KEY NOT NULL,
    community_id BIGINT NOT NULL REFERENCES communities (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);

-- A request filed over Open311: the ticket it became, the client that filed it, and the SHA-256 of the token that
-- was answered to the client (the resident's proof of ownership for a reopen, and `tokens/{token}`).
CREATE TABLE open311_requests (
    ticket_id TEXT PRIMARY KEY NOT NULL,
    community_id BIGINT NOT NULL REFERENCES communities (id),
    client_id TEXT NOT NULL REFERENCES open311_clients (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
CREATE INDEX open311_requests_by_community ON open311_requests (community_id, created_ms);
