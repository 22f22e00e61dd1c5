-- signet schema, version 6: ACME (RFC 8555), first slice: replay nonces
-- and accounts.
--
-- Nonces live here rather than in one signetd's memory so that any
-- signetd on this database accepts a nonce another one handed out, and
-- consumes it once: DELETE ... RETURNING on the primary key.  Expired rows
-- are deleted by signetd's background job.
CREATE TABLE acme_nonces (
    nonce       text PRIMARY KEY CHECK (length(nonce) BETWEEN 16 AND 64),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires_at);

-- Accounts, one per key (RFC 7638 thumbprint) and provisioner: the ACME
-- directory is per provisioner, and so are its accounts.  The provisioner
-- is a name, not a foreign key: removing a provisioner closes its ACME
-- directory without deleting its accounts' history.
CREATE TABLE acme_accounts (
    id              bigserial PRIMARY KEY,
    provisioner     text NOT NULL,
    jwk_thumbprint  text NOT NULL,
    jwk             jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'valid'
                    CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contacts        jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provisioner, jwk_thumbprint)
);
