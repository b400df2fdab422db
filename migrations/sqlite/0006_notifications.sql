-- In-app notifications (budget alerts …), newest first per user. Timestamps are Unix ms (UTC).
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    link       TEXT,
    created_at BIGINT  NOT NULL,
    read_at    BIGINT
);
CREATE INDEX notifications_user_created ON notifications(user_id, created_at);
-- The unread badge counts only these rows.
CREATE INDEX notifications_unread ON notifications(user_id) WHERE read_at IS NULL;
