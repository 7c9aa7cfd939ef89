-- 不接待完最后一位群众不下班: a clerk who signed out (after the warning) while people still waited for the window's
-- queues; the duty manager's screen shows it for the rest of that day.
ALTER TABLE windows ADD COLUMN left_waiting integer CHECK (left_waiting IS NULL OR left_waiting > 0);
ALTER TABLE windows ADD COLUMN left_by text;
ALTER TABLE windows ADD COLUMN left_at timestamptz;
