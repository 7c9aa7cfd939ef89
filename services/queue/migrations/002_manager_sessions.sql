-- Duty managers' sessions (值班长登录): a manager's token is honoured while its session is live, so signing
-- out, or deactivating the staff member, ends it at once instead of after the token's 12 h.
CREATE TABLE manager_sessions (
    session_id  uuid PRIMARY KEY,
    staff_id    text NOT NULL REFERENCES staff (id),
    started_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_reason  text CHECK (end_reason IN ('signed_out', 'deactivated'))
);
CREATE INDEX manager_sessions_live ON manager_sessions (staff_id) WHERE ended_at IS NULL;
