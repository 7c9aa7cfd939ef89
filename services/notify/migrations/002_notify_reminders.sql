-- Notify service, second step: template variables for the SDK providers, delivery receipts, the turn-approaching
-- watch and the not-yet-collected reminder.

-- The template's variables (no personal data: numbers, counts, dates, a link), for providers that fill their own
-- registered template (Aliyun TemplateParam, Tencent TemplateParamSet).
ALTER TABLE messages ADD COLUMN variables jsonb NOT NULL DEFAULT '{}'::jsonb;
-- Delivery receipt (回执) from the provider, found by its message id (Aliyun BizId, Tencent SerialNo).
ALTER TABLE messages ADD COLUMN delivery text CHECK (delivery IN ('delivered', 'undelivered'));
ALTER TABLE messages ADD COLUMN delivery_code text;
ALTER TABLE messages ADD COLUMN delivered_at timestamptz;
CREATE INDEX messages_provider_msg ON messages (provider, provider_msg_id) WHERE provider_msg_id IS NOT NULL;

-- Tickets seen issued (with the people ahead then), and whether their turn-approaching SMS is decided.
CREATE TABLE ticket_watch (
    ticket_id    text PRIMARY KEY,
    number       text,
    issued_ahead integer,
    decided      text CHECK (decided IN ('sent', 'skipped')),
    created_at   timestamptz NOT NULL,
    decided_at   timestamptz
);
CREATE INDEX ticket_watch_open ON ticket_watch (created_at) WHERE decided IS NULL;

-- Cases ready for pickup (待领取) and when to remind if nobody collected them.
CREATE TABLE pickups (
    case_id     text PRIMARY KEY,
    ready_at    timestamptz NOT NULL,
    remind_at   timestamptz NOT NULL,
    state       text        NOT NULL CHECK (state IN ('waiting', 'picked_up', 'reminded')),
    event_id    uuid        NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX pickups_due ON pickups (remind_at) WHERE state = 'waiting';
