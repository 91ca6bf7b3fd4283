ALTER TABLE checkpoints DROP COLUMN logic;
