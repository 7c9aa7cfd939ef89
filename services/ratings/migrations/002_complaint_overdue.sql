-- Overdue complaints: one row per complaint not closed by its due_at, written in the same transaction as its
-- ratings.complaint.overdue outbox event, so the event is emitted exactly once.
CREATE TABLE complaint_overdue (
    complaint_id uuid        PRIMARY KEY REFERENCES complaints (id),
    flagged_at   timestamptz NOT NULL
);
