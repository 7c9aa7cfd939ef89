-- Issue 13: the follow-up of a bad rating to its end (差评整改), the citizen's text sealed at rest, and which
-- cases are invited online (一事一评: promised cases only).

-- The citizen's free text, sealed (AES-256-GCM, shared/crypto.py, bound to "rating:<id>:text") before it reaches
-- the database; opened only for a duty manager. ``text`` stays for entries written before (append-only: never
-- rewritten). Chained (services/ratings/domain.py OPTIONAL_CHAINED_FIELDS) when set.
ALTER TABLE ratings ADD COLUMN text_sealed bytea;

-- 整改 by a date (限期整改), and the appeal (申诉) waiting for a second manager's review (复核).
ALTER TABLE complaints DROP CONSTRAINT complaints_status_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_status_check
    CHECK (status IN ('open', 'verified', 'rectifying', 'rectified', 'explained', 'appealed', 'closed'));
ALTER TABLE complaints ADD COLUMN rectify_by date;
ALTER TABLE complaints ADD COLUMN appealed_by text;
ALTER TABLE complaints ADD COLUMN appealed_from text;
CREATE INDEX complaint_log_complaint ON complaint_log (complaint_id, id);

-- instant (即办件) or promised (承诺件), from matters.case.accepted
ALTER TABLE case_facts ADD COLUMN kind text;
