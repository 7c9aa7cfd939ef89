-- Back-office staff (后台/科室): a staff member may belong to one department (科室, named as the matters
-- catalog's `department`, e.g. 工伤保险科) and then sign in to the back office, bound to no window.
ALTER TABLE staff ADD COLUMN backoffice text CHECK (backoffice IS NULL OR length(backoffice) BETWEEN 2 AND 30);

-- Sessions bound to no window: a duty manager's (值班长) and a back-office clerk's. A token of one is honoured
-- while its session is live, so signing out, deactivation or a change of department ends it at once.
ALTER TABLE manager_sessions RENAME TO staff_sessions;
ALTER INDEX manager_sessions_live RENAME TO staff_sessions_live;
ALTER TABLE staff_sessions ADD COLUMN role text NOT NULL DEFAULT 'manager' CHECK (role IN ('manager', 'backoffice'));
ALTER TABLE staff_sessions ADD COLUMN department text;  -- a back-office session's department at sign-in
ALTER TABLE staff_sessions DROP CONSTRAINT manager_sessions_end_reason_check;
ALTER TABLE staff_sessions ADD CONSTRAINT staff_sessions_end_reason_check
    CHECK (end_reason IN ('signed_out', 'deactivated', 'ended_by_manager'));
