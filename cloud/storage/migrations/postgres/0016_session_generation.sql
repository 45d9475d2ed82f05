-- A user's sign-in generation: access tokens carry the generation they were issued in, and
-- logging out everywhere or changing the password moves it on, so every access token issued
-- before - and every WebSocket opened with one, on any API process - stops working.
ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
