-- Central supervision (监管中心): projections of every site's events, alerts, thresholds.
-- The shared migrations give us inbox (one row per applied event id) and dead_letters.

CREATE TABLE sites (
    site              text PRIMARY KEY,
    name              text        NOT NULL DEFAULT '',
    configured        boolean     NOT NULL DEFAULT false,
    first_seen_at     timestamptz,
    last_event_at     timestamptz,
    last_heartbeat_at timestamptz,
    services          jsonb       NOT NULL DEFAULT '{}',  -- {service: {status, at}} merged from heartbeats
    version           text
);

-- Latest queue.snapshot per queue.
CREATE TABLE site_queues (
    site           text        NOT NULL,
    queue_id       uuid        NOT NULL,
    waiting        integer     NOT NULL,
    longest_wait_s integer     NOT NULL,
    windows_open   integer     NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (site, queue_id)
);

-- Windows from snapshots and window events: state since when, and the last day someone signed in.
CREATE TABLE site_windows (
    site       text        NOT NULL,
    window_no  integer     NOT NULL,
    state      text        NOT NULL,
    staff_id   text,
    since      timestamptz NOT NULL,
    at         timestamptz NOT NULL,
    staffed_on date,
    PRIMARY KEY (site, window_no)
);

-- Counters per site and day (site time): daily and monthly reports are sums of these rows.
CREATE TABLE site_day (
    site               text    NOT NULL,
    day                date    NOT NULL,
    issued             integer NOT NULL DEFAULT 0,
    called             integer NOT NULL DEFAULT 0,
    served             integer NOT NULL DEFAULT 0,
    no_shows           integer NOT NULL DEFAULT 0,
    cancelled          integer NOT NULL DEFAULT 0,
    transferred        integer NOT NULL DEFAULT 0,
    wait_sum           bigint  NOT NULL DEFAULT 0,
    wait_n             integer NOT NULL DEFAULT 0,
    service_sum        bigint  NOT NULL DEFAULT 0,
    service_n          integer NOT NULL DEFAULT 0,
    rated              integer NOT NULL DEFAULT 0,
    defaulted          integer NOT NULL DEFAULT 0,
    satisfied          integer NOT NULL DEFAULT 0,
    bad                integer NOT NULL DEFAULT 0,
    complaints_opened  integer NOT NULL DEFAULT 0,
    complaints_closed  integer NOT NULL DEFAULT 0,
    complaints_overdue integer NOT NULL DEFAULT 0,
    cases_accepted     integer NOT NULL DEFAULT 0,
    cases_completed    integer NOT NULL DEFAULT 0,
    cases_overdue      integer NOT NULL DEFAULT 0,
    cases_yellow       integer NOT NULL DEFAULT 0,
    cases_red          integer NOT NULL DEFAULT 0,
    sms_sent           integer NOT NULL DEFAULT 0,
    sms_failed         integer NOT NULL DEFAULT 0,
    first_sign_in_at   timestamptz,
    PRIMARY KEY (site, day)
);

-- The same by hour, for the day's series (waits and satisfaction by hour).
CREATE TABLE site_hour (
    site      text     NOT NULL,
    day       date     NOT NULL,
    hour      smallint NOT NULL,
    issued    integer  NOT NULL DEFAULT 0,
    served    integer  NOT NULL DEFAULT 0,
    wait_sum  bigint   NOT NULL DEFAULT 0,
    wait_n    integer  NOT NULL DEFAULT 0,
    judged    integer  NOT NULL DEFAULT 0,  -- ratings submitted + defaulted
    satisfied integer  NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, hour)
);

-- Wait ('w') and service ('s') time histograms per site and day (services.central.domain.bucket_of).
CREATE TABLE wait_hist (
    site   text    NOT NULL,
    day    date    NOT NULL,
    kind   char(1) NOT NULL,
    bucket integer NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (site, day, kind, bucket)
);

-- Final SMS outcomes per minute, for the failure rate over a sliding window.
CREATE TABLE sms_minute (
    site   text        NOT NULL,
    minute timestamptz NOT NULL,
    sent   integer     NOT NULL DEFAULT 0,
    failed integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (site, minute)
);

CREATE TABLE complaints (
    complaint_id uuid PRIMARY KEY,
    site         text        NOT NULL,
    rating_id    uuid,
    opened_at    timestamptz,
    due_at       timestamptz,
    closed_at    timestamptz,
    overdue      boolean     NOT NULL DEFAULT false
);
CREATE INDEX complaints_open ON complaints (site) WHERE closed_at IS NULL;

CREATE TABLE cases (
    case_id      uuid PRIMARY KEY,
    site         text        NOT NULL,
    accepted_at  timestamptz,
    due_at       timestamptz,
    warned       text,        -- yellow / red (the worst seen)
    completed_at timestamptz,
    overdue      boolean     NOT NULL DEFAULT false
);
CREATE INDEX cases_open_warned ON cases (site) WHERE completed_at IS NULL AND warned IS NOT NULL;

-- Alerts: open → acknowledged → resolved; one unresolved alert per (site, kind, subject).
CREATE TABLE alerts (
    id           bigserial PRIMARY KEY,
    site         text        NOT NULL,
    kind         text        NOT NULL,
    subject      text        NOT NULL,
    severity     text        NOT NULL,
    state        text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    message      text        NOT NULL,
    value        double precision,
    detail       jsonb       NOT NULL DEFAULT '{}',
    opened_at    timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    acked_at     timestamptz,
    acked_by     text,
    resolved_at  timestamptz,
    resolved_by  text,         -- a supervisor, or 'auto' when the condition cleared
    note         text
);
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (site, kind, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_by_state ON alerts (state, opened_at DESC);

CREATE TABLE thresholds (
    id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    "values"   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL
);

CREATE INDEX inbox_processed_at ON inbox (processed_at);
