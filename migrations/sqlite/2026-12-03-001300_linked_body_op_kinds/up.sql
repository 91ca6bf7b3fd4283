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
