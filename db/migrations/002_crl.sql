-- signet schema, version 2: CRLs.
-- One row per issuer: the last CRL number handed out (allocated with
-- INSERT .. ON CONFLICT DO UPDATE .. RETURNING, so two signers never reuse
-- one: the row lock orders them) and the newest CRL itself, which every
-- signetd serves whichever of them signed it.
CREATE TABLE crls (
    issuer_id     integer PRIMARY KEY REFERENCES issuers(id),
    last_number   bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0),
    crl_number    bigint,
    der           bytea,
    this_update   timestamptz,
    next_update   timestamptz,
    scheduled     boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- RFC 5280 3.3: an expired certificate may leave the CRL once it has
-- appeared on one regularly scheduled CRL issued after its notAfter.  The
-- publisher sets this in the transaction that stores such a CRL; rows with
-- it set are not listed again.
ALTER TABLE certificates ADD COLUMN crl_done boolean NOT NULL DEFAULT false;
CREATE INDEX certificates_crl ON certificates (issuer_id)
    WHERE status = 'revoked' AND NOT crl_done;
