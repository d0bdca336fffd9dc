-- 0001: the server's ledger. Voucher ids (unsigned 64-bit) are stored as
-- bigint with the same bits; key ids (unsigned 32-bit) as bigint.

CREATE TABLE merchants (
    id       text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name     text NOT NULL,
    category smallint NOT NULL,
    region   integer NOT NULL,
    blocked  boolean NOT NULL DEFAULT false,
    extra    smallint[] NOT NULL DEFAULT '{}'
);

CREATE TABLE terminals (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    merchant_id text NOT NULL REFERENCES merchants,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    revoked     boolean NOT NULL DEFAULT false,
    added_at    timestamptz NOT NULL
);

-- One row per terminal, made with it: its chain head. A group commit locks
-- the rows of its terminals (SELECT ... FOR UPDATE), so each chain has one
-- appender at a time, whichever instance the terminal is connected to.
CREATE TABLE chains (
    terminal_id text PRIMARY KEY REFERENCES terminals,
    seq         bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    hash        bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000' CHECK (length(hash) = 32)
);

-- Every synced record, with the outcome decided when it was stored. No
-- foreign key to terminals, nor from vouchers to here: the per-row checks
-- cost half the group commit's rate, and only the hub writes these rows,
-- for enrolled terminals, in the transaction that decides them.
CREATE TABLE records (
    terminal_id text NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    merchant_id text NOT NULL,
    at          timestamptz NOT NULL,
    day         date NOT NULL, -- the day of "at" in UTC+8: the reports' day
    kind        text NOT NULL CHECK (kind IN ('redemption', 'refund')),
    voucher_id  bigint NOT NULL,
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    sig         bytea NOT NULL,
    body        bytea NOT NULL,
    result      text NOT NULL CHECK (result IN ('accepted', 'conflict')),
    detail      text NOT NULL DEFAULT '',
    PRIMARY KEY (terminal_id, seq) -- unique (terminal, sequence)
);
CREATE INDEX records_day ON records (day, merchant_id);

-- One row per voucher the server has minted or seen: its minted code, its
-- revocation, its one live accepted redemption and its online hold. The
-- primary key and the single redeemed_* pair are the guarantee of one live
-- redemption per voucher; a group commit locks the rows of its vouchers.
CREATE TABLE vouchers (
    id                bigint PRIMARY KEY,
    code              text,
    revoked_at        timestamptz,
    redeemed_terminal text,
    redeemed_seq      bigint,
    hold_terminal     text,
    hold_until        timestamptz,
    CHECK ((redeemed_terminal IS NULL) = (redeemed_seq IS NULL)),
    CHECK ((hold_terminal IS NULL) = (hold_until IS NULL))
);
CREATE INDEX vouchers_revoked ON vouchers (id) WHERE revoked_at IS NOT NULL;
CREATE INDEX vouchers_held ON vouchers (hold_until) WHERE hold_until IS NOT NULL;

-- The auditors' list: records kept but not accepted, oldest first.
CREATE TABLE conflicts (
    id           bigserial PRIMARY KEY,
    record_id    text NOT NULL,
    terminal_id  text NOT NULL,
    merchant_id  text NOT NULL,
    seq          bigint NOT NULL,
    voucher_id   bigint NOT NULL,
    category     smallint NOT NULL,
    discount_fen bigint NOT NULL,
    at           timestamptz NOT NULL,
    at_nanos     smallint NOT NULL DEFAULT 0 CHECK (at_nanos BETWEEN 0 AND 999), -- below timestamptz's microsecond
    against      text NOT NULL DEFAULT '',
    code         text NOT NULL DEFAULT '', -- the decline or review code
    reason       text NOT NULL
);

-- The hub's small memories for its rules (a holder's recent redemptions at
-- a merchant, a sale's refunds, a terminal's syncs, a merchant's blocks):
-- values the hub encodes, read and written in the group commit, the rows
-- locked like the vouchers'.
CREATE TABLE memos (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- Issuing keys. The private seed is sealed (AES-256-GCM) with the key file
-- every instance is given: it is never in the database in clear.
CREATE TABLE issuing_keys (
    id          bigint PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    sealed_seed bytea NOT NULL,
    is_identity boolean NOT NULL DEFAULT false,
    is_current  boolean NOT NULL DEFAULT false,
    added_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX issuing_keys_one_identity ON issuing_keys ((true)) WHERE is_identity;
CREATE UNIQUE INDEX issuing_keys_one_current ON issuing_keys ((true)) WHERE is_current;

-- The rule parameters pushed to every terminal: one row.
CREATE TABLE params (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    params jsonb NOT NULL
);
