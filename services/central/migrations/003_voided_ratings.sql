-- Issue 13: a voided rating (申诉复核 upheld) leaves every figure. Central remembers what each rating counted, on
-- which day and hour, so that its void takes exactly that back (services/central/domain.py rating_counters).
ALTER TABLE site_day ADD COLUMN voided integer NOT NULL DEFAULT 0;

CREATE TABLE rating_counts (
    site      text        NOT NULL,
    rating_id uuid        NOT NULL,
    day       date        NOT NULL,
    hour      smallint    NOT NULL,
    rated     smallint    NOT NULL,  -- 1 for a given rating
    defaulted smallint    NOT NULL,  -- 1 for a defaulted one (基本满意)
    satisfied smallint    NOT NULL,  -- 1 at 好评 levels of its scale
    bad       smallint    NOT NULL,  -- 1 at 差评 levels of its scale
    voided_by uuid,                  -- the voiding chain entry (ratings.rating.voided rating_id)
    voided_at timestamptz,
    PRIMARY KEY (site, rating_id)
);
