-- Each site's rating chain (好差评) as its events tell it: enough to check every link without the entries.
CREATE TABLE rating_chain (
    site     text        NOT NULL,
    seq      bigint      NOT NULL,
    hash     text        NOT NULL,
    prev     text        NOT NULL,
    digest   text        NOT NULL,
    event_id uuid        NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, seq)
);
-- a later event claiming a position already held with another hash: the site's chain was rewritten
CREATE TABLE rating_chain_conflicts (
    site       text        NOT NULL,
    seq        bigint      NOT NULL,
    hash       text        NOT NULL,
    event_id   uuid        NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, seq, hash)
);
