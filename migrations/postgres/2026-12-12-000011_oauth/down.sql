DROP TABLE refresh_tokens;
DROP TABLE login_grants;
DROP TABLE signing_keys;
