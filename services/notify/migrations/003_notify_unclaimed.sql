-- An event that asks for an SMS before the citizen's phone is registered (the kiosk registers the phone once the
-- ticket exists; intake once the case exists): kept for a short while, and sent when the contact arrives.
CREATE TABLE unclaimed (
    ref_type    text        NOT NULL,
    ref_id      text        NOT NULL,
    template    text        NOT NULL,
    event_id    uuid        NOT NULL,
    variables   jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (ref_type, ref_id, template, event_id)
);
CREATE INDEX unclaimed_created ON unclaimed (created_at);
