-- Issue 14 part 3: attendance (考勤) and people turned away at closing.
-- Tickets still waiting when a site closed (queue.ticket.cancelled reason closed_unserved), per day.
ALTER TABLE site_day ADD COLUMN turned_away integer NOT NULL DEFAULT 0;

-- The latest per-window figures of the snapshots and ticket events: people waiting for the window's queues, a ticket
-- at the window, and its last call or finished service (the idle_while_waiting alert).
ALTER TABLE site_windows ADD COLUMN waiting integer;
ALTER TABLE site_windows ADD COLUMN busy boolean NOT NULL DEFAULT false;
ALTER TABLE site_windows ADD COLUMN active_at timestamptz;

-- What each window did, day by day (site time), for GET /sites/{site}/attendance and the reports: sign-in/out,
-- pause/resume, call, free (a service ended: completed, no-show, transferred away), and wait / nowait when people
-- start or stop waiting for its queues (from the snapshots, only on change).
CREATE TABLE window_log (
    site         text        NOT NULL,
    day          date        NOT NULL,
    window_no    integer     NOT NULL,
    at           timestamptz NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('in', 'out', 'pause', 'resume', 'call', 'free', 'wait',
                                                      'nowait')),
    staff_id     text,
    waiting_left integer
);
CREATE INDEX window_log_by_day ON window_log (site, day, at);
