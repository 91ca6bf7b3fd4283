-- Ops of these kinds, if any were stored, keep their codes; the previous release cannot read them either way.
DELETE FROM op_kinds WHERE code BETWEEN 31 AND 39;
