-- Queue service (叫号) of one site.

CREATE TABLE site_config (
    key   text PRIMARY KEY,          -- 'office_hours', 'policy'
    value jsonb NOT NULL
);

CREATE TABLE queues (
    id                uuid PRIMARY KEY,
    prefix            text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Z]{1,2}$'),  -- 号段字母
    name              text NOT NULL,
    hall              text,                                                  -- 服务厅
    default_service_s integer NOT NULL DEFAULT 300 CHECK (default_service_s > 0),
    active            boolean NOT NULL DEFAULT true
);

CREATE TABLE matter_routes (                 -- 事项 → 队列
    matter_id  text PRIMARY KEY,
    name       text NOT NULL,
    queue_id   uuid NOT NULL REFERENCES queues (id),
    service_s  integer,
    enabled    boolean NOT NULL DEFAULT true
);

CREATE TABLE staff (
    id            text PRIMARY KEY,          -- 工号
    name          text NOT NULL,
    password_hash text NOT NULL,
    is_manager    boolean NOT NULL DEFAULT false,
    active        boolean NOT NULL DEFAULT true
);

CREATE TABLE windows (
    no          integer PRIMARY KEY CHECK (no > 0),  -- 窗口号
    name        text NOT NULL,
    hall        text,
    queue_ids   uuid[] NOT NULL,                     -- queues served, in preference order (科室柜员制)
    state       text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'paused')),
    staff_id    text REFERENCES staff (id),
    session_id  uuid,
    reason      text,
    state_since timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX windows_one_per_staff ON windows (staff_id) WHERE staff_id IS NOT NULL;

CREATE TABLE window_roles (                         -- AB角
    window_no integer NOT NULL REFERENCES windows (no) ON DELETE CASCADE,
    staff_id  text    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    role      char(1) NOT NULL CHECK (role IN ('A', 'B')),
    PRIMARY KEY (window_no, staff_id)
);

CREATE TABLE ticket_counters (
    queue_id    uuid    NOT NULL REFERENCES queues (id),
    service_day date    NOT NULL,
    last_seq    integer NOT NULL,
    PRIMARY KEY (queue_id, service_day)
);

CREATE TABLE tickets (
    id               uuid PRIMARY KEY,
    service_day      date        NOT NULL,
    queue_id         uuid        NOT NULL REFERENCES queues (id),
    seq              integer     NOT NULL,
    number           text        NOT NULL,
    matter_id        text,
    priority         text        NOT NULL CHECK (priority IN ('normal', 'green', 'appointment')),
    channel          text        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('waiting', 'called', 'serving', 'done', 'no_show', 'transferred', 'cancelled')),
    issued_at        timestamptz NOT NULL,
    sort_ts          timestamptz NOT NULL,      -- place in line; kept on transfer
    appointment_at   timestamptz,
    target_window_no integer,                   -- transferred to a given window
    window_no        integer,
    staff_id         text,
    call_no          integer     NOT NULL DEFAULT 0,
    first_called_at  timestamptz,
    called_at        timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (service_day, number)   -- prefixes are unique per site; a transfer keeps its number
);
-- heads of each calling group are read with these (partial: only waiting tickets)
CREATE INDEX tickets_waiting_queue ON tickets (queue_id, priority, sort_ts, seq)
    WHERE status IN ('waiting', 'transferred') AND target_window_no IS NULL;
CREATE INDEX tickets_waiting_window ON tickets (target_window_no, sort_ts, seq)
    WHERE status IN ('waiting', 'transferred') AND target_window_no IS NOT NULL;
CREATE INDEX tickets_at_window ON tickets (window_no) WHERE status IN ('called', 'serving');
CREATE INDEX tickets_done_recent ON tickets (queue_id, finished_at DESC) WHERE status = 'done';
CREATE INDEX tickets_day ON tickets (service_day, status);
