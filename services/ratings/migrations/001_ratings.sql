-- Ratings service (好差评) of one site.

-- What the matters service told us about a case when it was accepted (completed events carry no window).
CREATE TABLE case_facts (
    case_id     uuid PRIMARY KEY,
    matter_id   text,
    window_no   integer,
    staff_id    text,
    accepted_at timestamptz NOT NULL
);

-- One invitation to rate per completed ticket (一次一评) or completed case (一事一评).
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    subject      text        NOT NULL CHECK (subject IN ('ticket', 'case')),
    subject_id   uuid        NOT NULL,
    window_no    integer,
    staff_id     text,
    matter_id    text,
    scale        text        NOT NULL,
    channel      text        NOT NULL,
    completed_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject, subject_id)
);
CREATE INDEX invitations_window ON invitations (window_no, completed_at DESC) WHERE subject = 'ticket';
CREATE INDEX invitations_expiry ON invitations (expires_at);

-- Append-only and hash-chained: every entry (a rating, a default, a void) is one row, never changed.
CREATE TABLE ratings (
    id            uuid PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('submitted', 'defaulted', 'voided')),
    invitation_id uuid        NOT NULL REFERENCES invitations (id),
    voids         uuid REFERENCES ratings (id),
    subject       text        NOT NULL,
    subject_id    uuid        NOT NULL,
    window_no     integer,
    staff_id      text,
    matter_id     text,
    scale         text        NOT NULL,
    level         integer,
    indicators    jsonb       NOT NULL DEFAULT '{}',
    reasons       text[]      NOT NULL DEFAULT '{}',
    text          text,  -- the citizen's words: stay in the site, never in an event
    channel       text        NOT NULL,
    void_reason   text,
    approved_by   text,
    created_at    timestamptz NOT NULL,
    chain_seq     bigint      NOT NULL UNIQUE CHECK (chain_seq > 0),
    prev_hash     text        NOT NULL,
    chain_hash    text        NOT NULL
);
-- 一次一评: one rating (given or defaulted) per invitation, whatever races; one void per rating
CREATE UNIQUE INDEX ratings_one_per_invitation ON ratings (invitation_id) WHERE kind IN ('submitted', 'defaulted');
CREATE UNIQUE INDEX ratings_one_void ON ratings (voids) WHERE kind = 'voided';
CREATE INDEX ratings_window_day ON ratings (window_no, created_at);

-- The chain's head, moved in the same transaction as each new entry (serialises the chain).
CREATE TABLE chain_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint  NOT NULL,
    hash text    NOT NULL
);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION ratings_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ratings are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ratings_no_update_delete BEFORE UPDATE OR DELETE ON ratings
    FOR EACH ROW EXECUTE FUNCTION ratings_append_only();
CREATE TRIGGER ratings_no_truncate BEFORE TRUNCATE ON ratings
    FOR EACH STATEMENT EXECUTE FUNCTION ratings_append_only();

-- Bad-rating follow-up (差评整改): one complaint per bad rating, its state, and an append-only log of actions.
CREATE TABLE complaints (
    id         uuid PRIMARY KEY,
    rating_id  uuid        NOT NULL UNIQUE REFERENCES ratings (id),
    window_no  integer,
    staff_id   text,
    level      integer     NOT NULL,
    status     text        NOT NULL CHECK (status IN ('open', 'verified', 'rectified', 'explained', 'appealed', 'closed')),
    outcome    text,
    due_at     timestamptz NOT NULL,
    opened_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX complaints_status ON complaints (status, due_at);

CREATE TABLE complaint_log (
    id           bigserial PRIMARY KEY,
    complaint_id uuid        NOT NULL REFERENCES complaints (id),
    action       text        NOT NULL,
    staff_id     text        NOT NULL,
    note         text,  -- staff's words: stay in the site
    at           timestamptz NOT NULL
);
