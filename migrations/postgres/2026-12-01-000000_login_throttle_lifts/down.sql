DROP TABLE login_throttle_lifts;
