-- A user's language (en, ru); NULL: follow the browser's Accept-Language.
ALTER TABLE users ADD COLUMN locale TEXT;
