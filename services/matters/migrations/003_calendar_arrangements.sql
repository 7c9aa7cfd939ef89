-- The official yearly holiday arrangement (国务院办公厅 节假日安排: days off and make-up working days, 调休),
-- installed for the years the chinesecalendar package does not know (PUT /calendar/{year}/arrangement; later
-- delivered by central). One row per year; an installed year wins over the package, the site's
-- calendar_overrides win over it.
CREATE TABLE calendar_arrangements (
    year         integer     PRIMARY KEY,
    holidays     date[]      NOT NULL,
    workdays     date[]      NOT NULL,
    source       text        NOT NULL,      -- the notice's number, e.g. 国办发明电〔2026〕X号
    installed_by text        NOT NULL,
    installed_at timestamptz NOT NULL
);
