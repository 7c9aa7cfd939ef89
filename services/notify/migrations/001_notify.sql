-- Notify service (短信) of one site. Phone numbers are stored only sealed (AES-256-GCM, crypto.py), with a
-- keyed hash (phone_hash) to find and count a phone's messages, and masked (138****1234) for display.

CREATE TABLE contacts (
    id           uuid PRIMARY KEY,
    ref_type     text        NOT NULL CHECK (ref_type IN ('ticket', 'case')),
    ref_id       text        NOT NULL,
    phone        bytea       NOT NULL,          -- sealed
    phone_hash   bytea       NOT NULL,
    phone_masked text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    UNIQUE (ref_type, ref_id, phone_hash)
);
CREATE INDEX contacts_ref ON contacts (ref_id);
CREATE INDEX contacts_expiry ON contacts (expires_at);

-- One row per (event, template, phone): the send queue and the record of what was sent.
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    dedupe_key      text        NOT NULL UNIQUE,  -- <event id>:<template>:<phone hash>
    event_id        uuid        NOT NULL,
    template        text        NOT NULL,
    ref_type        text        NOT NULL,
    ref_id          text        NOT NULL,
    phone           bytea,                        -- sealed; NULL after the retention period
    phone_hash      bytea       NOT NULL,
    phone_masked    text        NOT NULL,
    text            text        NOT NULL,         -- with the signature
    parts           integer     NOT NULL CHECK (parts >= 1),
    status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    deferred_reason text,
    error_code      text,
    provider        text,
    provider_msg_id text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    finished_at     timestamptz
);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX messages_ref ON messages (ref_id, created_at);
CREATE INDEX messages_phone_sent ON messages (phone_hash, sent_at) WHERE status = 'sent';
