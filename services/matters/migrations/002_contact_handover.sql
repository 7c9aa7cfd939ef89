-- The applicant's phone on its way to the site's notify service (svc.<site>.notify.contacts: core NATS
-- request/reply inside the site, never the event stream). A row is written in the transaction that stores the
-- case (whose applicant_phone holds the phone, sealed) and deleted once notify has answered that it has the
-- contact; until then the handover loop (contacts.py) asks again.
CREATE TABLE contact_handover (
    case_id         uuid        PRIMARY KEY REFERENCES cases (id),
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,                          -- an error code or exception type, never a message
    last_attempt_at timestamptz,
    refused         boolean     NOT NULL DEFAULT false  -- notify refused the number for good: not asked again
);
CREATE INDEX contact_handover_waiting ON contact_handover (created_at) WHERE NOT refused;
