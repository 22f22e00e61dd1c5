-- signet schema, version 1.
-- Issuers: the root and the issuing intermediates.  Several may be active
-- or retiring at once so that an intermediate can be rolled over.
CREATE TABLE issuers (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('root', 'intermediate')),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'retiring', 'retired')),
    parent_id   integer REFERENCES issuers(id),
    key_label   text NOT NULL,
    token       text NOT NULL,
    subject     text NOT NULL,
    ski         bytea NOT NULL,
    spki_sha256 bytea NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    der         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every certificate signet signs.  A row is written as 'pending' (the
-- issuance intent) before the HSM signs, and completed with its DER
-- ('good') before the client is answered.  An intent that never got its
-- DER is 'abandoned' by reconciliation: that certificate never left.
CREATE TABLE certificates (
    serial            text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{1,40}$'),
    issuer_id         integer NOT NULL REFERENCES issuers(id),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'good', 'revoked', 'abandoned')),
    subject           text NOT NULL,
    sans              text[] NOT NULL DEFAULT '{}',
    profile           text NOT NULL,
    provisioner       text,
    requester         text NOT NULL,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    tbs_sha256        bytea NOT NULL,
    spki_sha256       bytea NOT NULL,
    der               bytea,
    fingerprint_sha256 bytea,
    revoked_at        timestamptz,
    revocation_reason smallint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    issued_at         timestamptz,
    CHECK (status <> 'good' OR der IS NOT NULL),
    CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_status ON certificates (status);
CREATE INDEX certificates_provisioner ON certificates (provisioner);
CREATE INDEX certificates_spki ON certificates (spki_sha256);
CREATE INDEX certificates_pending ON certificates (created_at) WHERE status = 'pending';

-- Provisioners: named holders of a token-signing key (we keep only the
-- public JWK) and the policy that bounds what their tokens may ask for.
CREATE TABLE provisioners (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    kind        text NOT NULL DEFAULT 'jwk' CHECK (kind IN ('jwk')),
    public_jwk  jsonb NOT NULL,
    policy      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One-time token ids.  The primary key makes a replay fail even when two
-- signetd see the same token at once.  Rows may go once the token expired.
CREATE TABLE used_tokens (
    provisioner text NOT NULL,
    jti         text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provisioner, jti)
);
CREATE INDEX used_tokens_expires ON used_tokens (expires_at);

-- The audit log.  Entries are inserted in the same transaction as their
-- action; the sealer later chains them (audit_chain) in the order it sees
-- them committed, and signs checkpoints of the chain with an HSM key.  All
-- three tables are append-only: triggers refuse UPDATE and DELETE, and
-- signetd's role should hold only INSERT and SELECT on them.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE audit_chain (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    entry_id    bigint NOT NULL UNIQUE REFERENCES audit_log(id),
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    sealed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY,
    head_hash   bytea NOT NULL,
    key_label   text NOT NULL,
    signature   bytea NOT NULL,
    signed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signet: % on % refused: the audit log is append-only',
        TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

-- Keys revoked for keyCompromise: a later CSR with such a key is refused.
CREATE TABLE blocked_keys (
    spki_sha256 bytea PRIMARY KEY,
    serial      text,
    blocked_at  timestamptz NOT NULL DEFAULT now()
);
