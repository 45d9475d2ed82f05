-- E-mail addresses are compared by a key computed in Python (cloud/storage/emails.py: NFKC and
-- full case folding), the same on PostgreSQL and SQLite. lower() differed between the two (and
-- between PostgreSQL locales), so a look-up could find an account the login limiter did not
-- count as the same. Existing accounts get their key on the next start (storage migrate()).
ALTER TABLE users ADD COLUMN email_key TEXT;
CREATE UNIQUE INDEX users_email_key_folded ON users (email_key);
DROP INDEX users_email_key;
