DROP INDEX fee_payments_period;
DROP TABLE fee_payments;
DROP TABLE fee_dues;
