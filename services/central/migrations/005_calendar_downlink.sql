-- Issue 14 part 2: the province publishes the yearly arrangement (放假安排, 调休) down to every site.
-- Each PUT /calendar/{year} is a new version of that year (the highest is in force); event_id is the envelope's
-- id, so a publication retried after a failure is stored once in DOWN; down_seq is set once DOWN stored it.
CREATE TABLE calendar_publications (
    year         integer     NOT NULL,
    version      integer     NOT NULL,
    holidays     date[]      NOT NULL,
    workdays     date[]      NOT NULL,
    source       text        NOT NULL,
    published_by text        NOT NULL,
    published_at timestamptz NOT NULL,
    event_id     uuid        NOT NULL UNIQUE,
    down_seq     bigint,
    PRIMARY KEY (year, version)
);

-- What each site reported (matters.calendar.installed): the version it installed, when, how many open cases moved,
-- and its own days of that year, which still win there.
CREATE TABLE calendar_applied (
    site        text        NOT NULL,
    year        integer     NOT NULL,
    version     integer     NOT NULL,
    source      text        NOT NULL,
    cases_moved integer     NOT NULL,
    overrides   jsonb       NOT NULL DEFAULT '[]',
    applied_at  timestamptz NOT NULL,
    PRIMARY KEY (site, year)
);
