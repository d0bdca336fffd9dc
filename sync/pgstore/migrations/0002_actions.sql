-- 0002: the admin log (who blocked, unblocked, revoked what, and why).
-- Append-only: the application role needs only INSERT and SELECT on it.
CREATE TABLE actions (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL,
    who    text NOT NULL,
    what   text NOT NULL,
    target text NOT NULL DEFAULT '',
    why    text NOT NULL
);
