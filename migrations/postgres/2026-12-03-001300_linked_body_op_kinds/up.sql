-- The PostgreSQL twin of migrations/sqlite/2026-12-03-001300_linked_body_op_kinds (the same rows).
-- The op kinds of linked bodies, dispatch, council decisions and routing rules (issue #13) take the next free
-- codes in the `kind` column; the older codes never change. Only names are added: no row is rewritten, so the
-- previous release still runs against this schema (it refuses ops of kinds it does not know, as before).
INSERT INTO op_kinds (code, name) VALUES
    (31, 'ticket.dispatch'),
    (32, 'ticket.agency_accept'),
    (33, 'ticket.agency_complete'),
    (34, 'ticket.decide'),
    (35, 'agency.create'),
    (36, 'agency.edit'),
    (37, 'decision.record'),
    (38, 'decision.edit'),
    (39, 'route.set');
-- Identity numbering follows the codes written by hand (as in the lean op log migration).
SELECT setval(pg_get_serial_sequence('op_kinds', 'code'), (SELECT max(code) FROM op_kinds));
