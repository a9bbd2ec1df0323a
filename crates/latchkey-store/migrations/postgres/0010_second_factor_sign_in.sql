-- Whether a browser session or an authorization code comes from a sign-in that included a
-- second factor, so that tokens say so in their `amr` claim (["pwd","mfa"]).
ALTER TABLE sign_in_sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE authorization_codes ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
