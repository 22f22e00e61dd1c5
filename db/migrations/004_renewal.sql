-- signet schema, version 4: renewal lineage and expiry notifications.
-- A certificate issued by renewal (POST /v1/renew, or an ACME order with
-- `replaces`) names the certificate it replaces.  "Expiring without a
-- successor" is then: no row names it as predecessor.
ALTER TABLE certificates ADD COLUMN predecessor text
    REFERENCES certificates(serial);
CREATE INDEX certificates_predecessor ON certificates (predecessor)
    WHERE predecessor IS NOT NULL;

-- Expiry notifications (webhook) already sent: once per certificate per
-- threshold, also across several signetd on one database.
CREATE TABLE expiry_notifications (
    serial      text NOT NULL REFERENCES certificates(serial),
    threshold   text NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (serial, threshold)
);
