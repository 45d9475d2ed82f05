-- A user's sign-in generation (as migrations/postgres/0016).
ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
