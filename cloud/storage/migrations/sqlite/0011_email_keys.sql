-- As migrations/postgres/0014: e-mail addresses are compared by a key computed in Python
-- (cloud/storage/emails.py); existing accounts get their key on the next start.
ALTER TABLE users ADD COLUMN email_key TEXT;
CREATE UNIQUE INDEX users_email_key_folded ON users (email_key);
DROP INDEX users_email_key;
