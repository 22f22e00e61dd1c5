-- signet schema, version 3: delegated OCSP signing certificates.
-- One row per certificate signetd (or `signet init`) issued to an OCSP
-- signing key on the online token; the newest row of an issuer is the one
-- in use.  They are not in `certificates`: they are no leaf anyone
-- enrolled, carry id-pkix-ocsp-nocheck (nobody asks OCSP about them) and
-- are replaced every few weeks.
CREATE TABLE ocsp_signers (
    id          serial PRIMARY KEY,
    issuer_id   integer NOT NULL REFERENCES issuers(id),
    key_label   text NOT NULL,
    serial      text NOT NULL CHECK (serial ~ '^[0-9a-f]{1,40}$'),
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    der         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ocsp_signers_issuer ON ocsp_signers (issuer_id, id);
-- What the OCSP responder's fallback poll asks: revoked since.
CREATE INDEX certificates_revoked_at ON certificates (revoked_at)
    WHERE revoked_at IS NOT NULL;
