DROP TABLE external_sign_ins;
DROP TABLE identity_providers;
