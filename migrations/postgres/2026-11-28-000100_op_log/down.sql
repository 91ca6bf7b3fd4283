DROP TABLE cards;
DROP TABLE card_movements;
DROP TABLE visits;
DROP TABLE entries;
DROP TABLE tickets;
DROP TABLE grid_cells;
DROP TABLE op_log;
