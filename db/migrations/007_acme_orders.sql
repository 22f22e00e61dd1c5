-- signet schema, version 7: ACME (RFC 8555) orders, authorizations,
-- challenges and External Account Binding keys.
--
-- Challenges are validated by worker threads of any signetd: a challenge
-- the client has answered is 'processing' with a next_attempt time; a
-- worker claims it by setting claimed_until (a lease, so that a signetd
-- that dies mid-validation leaves it to another), validates, and records
-- the outcome.  Order and authorization expiry is applied when they are
-- read, not by a job.
ALTER TABLE acme_accounts ADD COLUMN eab_kid text;

-- Nonces need no durability: one lost in a crash (or absent on a promoted
-- standby: unlogged tables are not replicated) costs its client one
-- badNonce and a retry with the nonce that answer carries.  Unlogged, the
-- two nonce writes of every ACME request wait for no WAL flush.
ALTER TABLE acme_nonces SET UNLOGGED;

CREATE TABLE acme_orders (
    id           bigserial PRIMARY KEY,
    provisioner  text NOT NULL,
    account_id   bigint NOT NULL REFERENCES acme_accounts(id),
    status       text NOT NULL CHECK (status IN
                 ('pending', 'ready', 'processing', 'valid', 'invalid')),
    expires      timestamptz NOT NULL,
    identifiers  jsonb NOT NULL,     -- [{"type": "dns", "value": "..."}]
    not_before   timestamptz,
    not_after    timestamptz,
    error        jsonb,              -- an ACME problem, when invalid
    cert_serial  text REFERENCES certificates(serial),
    replaces     text REFERENCES certificates(serial),  -- RFC 9773
    replaces_id  text,               -- the ARI certID the client sent
    -- when finalization began: a signetd that died while issuing leaves
    -- the order 'processing'; after a while it reads as ready again.
    finalizing_since timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, id);
CREATE INDEX acme_orders_provisioner ON acme_orders (provisioner, created_at);
CREATE INDEX acme_orders_cert ON acme_orders (cert_serial)
    WHERE cert_serial IS NOT NULL;

CREATE TABLE acme_authzs (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES acme_orders(id),
    account_id   bigint NOT NULL REFERENCES acme_accounts(id),
    ident_type   text NOT NULL CHECK (ident_type IN ('dns', 'ip')),
    ident_value  text NOT NULL,      -- without "*." for a wildcard
    wildcard     boolean NOT NULL DEFAULT false,
    status       text NOT NULL CHECK (status IN ('pending', 'valid',
                 'invalid', 'deactivated', 'expired', 'revoked')),
    expires      timestamptz NOT NULL
);
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);

CREATE TABLE acme_challenges (
    id             bigserial PRIMARY KEY,
    authz_id       bigint NOT NULL REFERENCES acme_authzs(id),
    type           text NOT NULL CHECK (type IN
                   ('http-01', 'dns-01', 'tls-alpn-01')),
    token          text NOT NULL,
    status         text NOT NULL CHECK (status IN
                   ('pending', 'processing', 'valid', 'invalid')),
    validated      timestamptz,
    error          jsonb,
    attempts       integer NOT NULL DEFAULT 0,
    next_attempt   timestamptz,
    claimed_until  timestamptz
);
CREATE INDEX acme_challenges_authz ON acme_challenges (authz_id);
CREATE INDEX acme_challenges_work ON acme_challenges (next_attempt)
    WHERE status = 'processing';

-- External Account Binding keys (RFC 8555 7.3.4), minted by `signet acme
-- eab`: a key binds one account, once.  Removing the provisioner removes
-- its keys: one added again under the same name starts without them.
CREATE TABLE acme_eab_keys (
    kid          text PRIMARY KEY,
    provisioner  text NOT NULL
                 REFERENCES provisioners(name) ON DELETE CASCADE,
    hmac_key     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    used_at      timestamptz,
    account_id   bigint REFERENCES acme_accounts(id)
);
