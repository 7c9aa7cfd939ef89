-- Matters service (事项与办件) of one site. Applicant data is stored only sealed (AES-256-GCM, crypto.py).

-- A site's changes to the shipped catalog, in two layers: the site file and the hall manager.
CREATE TABLE matter_changes (
    matter_id     text    NOT NULL,
    source        text    NOT NULL CHECK (source IN ('site_file', 'manager')),
    enabled       boolean,
    queue         text CHECK (queue ~ '^[A-Z]{1,2}$'),
    promised_days integer CHECK (promised_days >= 0),
    changed_by    text,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (matter_id, source)
);

-- The site's corrections to the holiday calendar (调休, local holidays, years chinesecalendar lacks).
CREATE TABLE calendar_overrides (
    day        date PRIMARY KEY,
    workday    boolean NOT NULL,
    note       text,
    changed_by text,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cases (
    id                uuid PRIMARY KEY,
    matter_id         text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('instant', 'promised')),
    status            text        NOT NULL CHECK (status IN
                          ('materials_missing', 'accepted', 'suspended', 'completed', 'ready_for_pickup', 'picked_up')),
    result            text CHECK (result IN ('approved', 'rejected')),
    ticket_id         uuid,
    window_no         integer,
    owner_staff_id    text        NOT NULL,          -- 首问负责: the clerk who accepted it
    applicant_name    bytea       NOT NULL,          -- sealed
    applicant_id_no   bytea       NOT NULL,          -- sealed
    applicant_phone   bytea,                         -- sealed
    provided          text[]      NOT NULL,
    applicable        text[]      NOT NULL DEFAULT '{}',
    missing           text[]      NOT NULL DEFAULT '{}',
    steps             text[]      NOT NULL DEFAULT '{}',  -- back-office steps planned at acceptance
    steps_done        text[]      NOT NULL DEFAULT '{}',
    time_limit_days   integer     NOT NULL CHECK (time_limit_days >= 0),
    created_at        timestamptz NOT NULL,
    accepted_on       date        NOT NULL,          -- site-local day; counting starts the day after
    due_on            date,                          -- NULL while the clock is stopped, or for 即办件
    due_at            timestamptz,
    suspended_since   timestamptz,
    completed_at      timestamptz,
    working_days_used integer,
    overdue           boolean,
    ready_at          timestamptz,
    pickup_by         date,
    picked_up_at      timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX cases_running ON cases (due_on) WHERE status = 'accepted';
CREATE INDEX cases_status ON cases (status, created_at DESC);
CREATE INDEX cases_ticket ON cases (ticket_id) WHERE ticket_id IS NOT NULL;

-- 挂起: the clock stops for the days in (suspended_on, resumed_on].
CREATE TABLE case_suspensions (
    case_id      uuid        NOT NULL REFERENCES cases (id),
    seq          integer     NOT NULL,
    reason_code  text        NOT NULL,
    note         bytea,                              -- sealed (free text)
    staff_id     text        NOT NULL,
    suspended_at timestamptz NOT NULL,
    suspended_on date        NOT NULL,
    resumed_at   timestamptz,
    resumed_on   date,
    resumed_by   text,
    PRIMARY KEY (case_id, seq)
);
CREATE UNIQUE INDEX case_suspensions_one_open ON case_suspensions (case_id) WHERE resumed_at IS NULL;

-- Everything that happened to a case, in order (环节、挂起、办结、领取 …).
CREATE TABLE case_log (
    id         bigserial   PRIMARY KEY,
    case_id    uuid        NOT NULL REFERENCES cases (id),
    action     text        NOT NULL,
    step       text,
    department text,
    staff_id   text        NOT NULL,
    at         timestamptz NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX case_log_case ON case_log (case_id, id);

-- One row per card shown, written in the transaction that puts matters.case.warned in the outbox:
-- the primary key is what makes each card happen once, whatever restarts or runs in parallel.
CREATE TABLE case_warnings (
    case_id   uuid        NOT NULL REFERENCES cases (id),
    level     text        NOT NULL CHECK (level IN ('yellow', 'red')),
    due_at    timestamptz NOT NULL,
    warned_at timestamptz NOT NULL,
    event_id  uuid        NOT NULL,
    PRIMARY KEY (case_id, level)
);
