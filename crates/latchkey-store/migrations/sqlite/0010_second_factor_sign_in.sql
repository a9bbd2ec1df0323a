-- Whether a browser session or an authorization code comes from a sign-in that included a
-- second factor, so that tokens say so in their `amr` claim (["pwd","mfa"]).
ALTER TABLE sign_in_sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE authorization_codes ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- The tenant's setting "require a second factor for administrators": a user holding a
-- directory role without an authenticator is sent to register one before signing in.
ALTER TABLE tenants ADD COLUMN require_mfa_for_admins BOOLEAN NOT NULL DEFAULT FALSE;
