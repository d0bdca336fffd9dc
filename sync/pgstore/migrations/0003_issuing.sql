-- 0003: the issuing side (sync/issuing): rounds added, budget moves, drops,
-- claims and love registrations. Every issuing transaction first takes
-- the transaction-level advisory lock issuingLock, so that the claims of
-- every instance are decided one group at a time against what the groups
-- before left; the constraints below hold whatever happens.

CREATE TABLE issuing_meta (
    k text PRIMARY KEY,
    v bytea NOT NULL
);

CREATE TABLE issue_rounds (
    seq  bigserial PRIMARY KEY,
    id   text NOT NULL UNIQUE,
    body jsonb NOT NULL
);

CREATE TABLE budget_moves (
    seq  bigserial PRIMARY KEY,
    body jsonb NOT NULL
);

CREATE TABLE drops (
    id      bigint PRIMARY KEY,
    count   integer NOT NULL CHECK (count > 0),
    claimed integer NOT NULL CHECK (claimed BETWEEN 0 AND count), -- never more than the drop released
    body    jsonb NOT NULL
);
CREATE SEQUENCE drop_ids;

-- Claim numbers; a voucher id is a keyed permutation of its claim's number.
CREATE SEQUENCE claim_seq;

CREATE TABLE claims (
    seq        bigint PRIMARY KEY,
    holder     bigint NOT NULL,
    idem_key   text UNIQUE,
    voucher_id bigint NOT NULL UNIQUE,
    drop_id    bigint NOT NULL REFERENCES drops,
    status     text NOT NULL CHECK (status IN ('claimed', 'expired', 'returned')),
    body       jsonb NOT NULL
);
CREATE INDEX claims_holder ON claims (holder, seq);

CREATE TABLE love (
    holder bigint PRIMARY KEY,
    body   jsonb NOT NULL
);
