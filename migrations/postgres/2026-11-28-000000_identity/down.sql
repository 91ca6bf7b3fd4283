DROP TABLE refresh_tokens;
DROP TABLE enrolment_codes;
DROP TABLE devices;
DROP TABLE users;
