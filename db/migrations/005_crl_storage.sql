-- signet schema, version 5: CRLs are stored as they are.  A CRL of a
-- million entries is some 40 MB of DER; PostgreSQL's default for bytea
-- (EXTENDED) compresses it with pglz on every update, which costs more
-- than it saves on data read whole and rewritten each time.
ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTERNAL;
