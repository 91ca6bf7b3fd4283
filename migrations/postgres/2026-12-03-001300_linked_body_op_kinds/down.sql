-- Ops of these kinds, if any were stored, keep their codes; the previous release cannot read them either way.
DELETE FROM op_kinds WHERE code BETWEEN 31 AND 39;
-- Identity numbering follows the codes written by hand (as in the lean op log migration).
SELECT setval(pg_get_serial_sequence('op_kinds', 'code'), (SELECT max(code) FROM op_kinds));
