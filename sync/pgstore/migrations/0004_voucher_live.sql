-- 0004: what is live on a voucher (its one accepted redemption, its online
-- hold) moves out of vouchers into a table of its own, one row per voucher
-- that has either. Its primary key is the guarantee of one live redemption
-- per voucher: a group commit inserts the row of a voucher it redeems and
-- nothing held (a second instance inserting the same voucher meanwhile
-- fails on the key and its transaction runs again), and locks and updates
-- the rows that exist; a row left with nothing live is deleted. vouchers
-- keeps what is minted or revoked, and a drain no longer locks or updates
-- its rows.
CREATE TABLE voucher_live (
    voucher_id        bigint PRIMARY KEY,
    redeemed_terminal text,
    redeemed_seq      bigint,
    hold_terminal     text,
    hold_until        timestamptz,
    CHECK ((redeemed_terminal IS NULL) = (redeemed_seq IS NULL)),
    CHECK ((hold_terminal IS NULL) = (hold_until IS NULL)),
    CHECK (redeemed_seq IS NOT NULL OR hold_until IS NOT NULL)
);
CREATE INDEX voucher_live_held ON voucher_live (hold_until) WHERE hold_until IS NOT NULL;

INSERT INTO voucher_live (voucher_id, redeemed_terminal, redeemed_seq, hold_terminal, hold_until)
    SELECT id, redeemed_terminal, redeemed_seq, hold_terminal, hold_until FROM vouchers
    WHERE redeemed_seq IS NOT NULL OR hold_until IS NOT NULL;

-- A row made only for a redemption or a hold has nothing left to keep.
DELETE FROM vouchers WHERE code IS NULL AND revoked_at IS NULL;
DROP INDEX vouchers_held;
ALTER TABLE vouchers
    DROP COLUMN redeemed_terminal,
    DROP COLUMN redeemed_seq,
    DROP COLUMN hold_terminal,
    DROP COLUMN hold_until;
