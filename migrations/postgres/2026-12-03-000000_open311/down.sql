DROP INDEX open311_requests_by_community;
DROP TABLE open311_requests;
DROP TABLE open311_clients;
