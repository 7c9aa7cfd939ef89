-- 参评率 as the site counts it: invitations opened (ratings.invitation.opened, 一次一评 tickets and 一事一评 cases)
-- per site and day, the denominator of participation (services.central.domain.participation). Days before this
-- migration have none: their participation is unknown (null), not a ratio over tickets served.
ALTER TABLE site_day ADD COLUMN invitations integer NOT NULL DEFAULT 0;
