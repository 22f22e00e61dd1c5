#!/usr/bin/env bash
# signet audit verify, from the command line, against real tampering by a
# database superuser: an edited row, the newest checkpointed row deleted,
# and a row rewritten with every later hash recomputed (by an independent
# implementation of docs/audit.md's format), which only the HSM-signed
# checkpoint catches.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init
ca_start
ca_provisioner a --allow-dns '*.audit.test'
for i in 1 2 3; do
	new_csr "c$i" "/CN=c$i.audit.test" "DNS:c$i.audit.test"
	tok=$(ca_token a "c$i.audit.test")
	sign_json "c$i.csr" "$tok" >"c$i.json"
	expect_eq "certificate $i issued" "$(post_sign "c$i.json")" 201
done
stop_bg signetd

check "signet audit verify: intact" "$SIGNET" audit verify
expect_eq "every issuance is audited" \
	"$(psql_val "select count(*) from audit_log where action = 'certificate.issue'")" 4
expect_eq "every entry is chained" \
	"$(psql_val "select count(*) from audit_log l join audit_chain c on c.entry_id = l.id")" \
	"$(psql_val "select count(*) from audit_log")"
check_fails "an UPDATE on audit_log is refused by the database" \
	psql "$SIGNET_TEST_DB" -v ON_ERROR_STOP=1 -c "update audit_log set actor = 'x'"
check_fails "a DELETE on audit_chain is refused by the database" \
	psql "$SIGNET_TEST_DB" -v ON_ERROR_STOP=1 -c "delete from audit_chain"

# Keep a copy to restore between cases.
psql "$SIGNET_TEST_DB" -qc "create table log_copy as select * from audit_log;
	create table chain_copy as select * from audit_chain;
	create table cp_copy as select * from audit_checkpoints" >/dev/null
restore() {
	psql "$SIGNET_TEST_DB" -qc "set session_replication_role = replica;
		delete from audit_checkpoints; delete from audit_chain; delete from audit_log;
		insert into audit_log select * from log_copy;
		insert into audit_chain select * from chain_copy;
		insert into audit_checkpoints select * from cp_copy;" >/dev/null
}
tamper() {
	psql "$SIGNET_TEST_DB" -v ON_ERROR_STOP=1 -qc "set session_replication_role = replica; $1" >/dev/null
}

# (a) an edited row
tamper "update audit_log set detail = jsonb_set(detail, '{subject}', '\"CN=evil\"')
	where id = (select min(id) from audit_log where action = 'certificate.issue')"
check_fails "an edited entry is found" "$SIGNET" audit verify
expect_eq "  with exit 1 (tampering), not an error" \
	"$("$SIGNET" audit verify >/dev/null 2>&1; echo $?)" 1
restore
check "restored, verify is intact again" "$SIGNET" audit verify

# (b) the newest entry deleted, with its chain row; a checkpoint covers it
newest=$(psql_val "select entry_id from audit_chain order by seq desc limit 1")
tamper "delete from audit_chain where entry_id = $newest; delete from audit_log where id = $newest"
check_fails "the deleted newest entry is found (the checkpoint covers it)" "$SIGNET" audit verify
restore

# (c) a middle row rewritten and every later hash recomputed consistently
mid=$(psql_val "select seq from audit_chain order by seq limit 1 offset 2")
tamper "update audit_log set actor = 'someone-else'
	where id = (select entry_id from audit_chain where seq = $mid)"
psql "$SIGNET_TEST_DB" -At -F $'\x1f' -R $'\x1e' -c "
	select c.seq, c.entry_id, trunc(extract(epoch from l.at) * 1000000)::text,
	       l.actor, l.action, l.subject, l.detail::text
	from audit_chain c join audit_log l on l.id = c.entry_id order by c.seq" >chain.txt
python3 - "$mid" >rehash.sql <<'PY'
import hashlib, struct, sys
mid = int(sys.argv[1])
def F(b): return struct.pack(">q", len(b)) + b
prev = b"\0" * 32
for rec in open("chain.txt", "rb").read().split(b"\x1e"):
    if not rec.strip():
        continue
    seq, eid, at, actor, action, subject, detail = rec.split(b"\x1f")
    seq, eid = int(seq), int(eid)
    h = hashlib.sha256(F(b"signet-audit-chain-v1") + F(struct.pack(">q", seq)) +
        F(prev) + F(struct.pack(">q", eid)) + F(at) + F(actor) + F(action) +
        F(subject) + F(detail)).digest()
    if seq >= mid:
        print("update audit_chain set prev_hash = '\\x%s', hash = '\\x%s' where seq = %d;"
              % (prev.hex(), h.hex(), seq))
    prev = h
PY
tamper "$(cat rehash.sql)"
check_fails "a rewrite with recomputed hashes is caught by the signed checkpoint" "$SIGNET" audit verify
expect_match "  the report names the checkpoint" "$(cat "$CHECK_OUT")" "checkpoint"
