#!/usr/bin/env python3
"""Test helper: a small ACME (RFC 8555) client that runs whole flows
against signetd, answering challenges itself on loopback, so tests can
look at each step (the real clients are tested in 93_acme_clients.sh).

usage:
  acme_flow.py --dir URL --ca ROOTS --key ACCOUNT_KEY [--alg ES256]
               [--eab-kid KID --eab-key HMAC_KEY] CMD ...

  account                         create/find the account; prints its URL
  order NAMES [--challenge T] [--port P] [--dns-mgmt URL]
        [--wrong-keyauth] [--no-answer] [--not-after RFC3339]
        [--replaces CERTID] [--csr-names NAMES] [--csr-key FILE]
        [--cert-out FILE] [--skip-finalize]
      NAMES: comma-separated dns names or IP addresses ("*.x" wildcard).
      T: http-01 (default), tls-alpn-01, dns-01 (--dns-mgmt: the
      pebble-challtestsrv management URL that sets the TXT record), or
      none (no challenge: the order must already be ready).  The
      challenge server listens on 127.0.0.1:P.  Prints one JSON object:
      {"order": URL, "status", "order_json", "authz": [...], "cert": PEM,
       "serial", "finalize_status", "finalize_body"} as far as it got.
  post URL [--payload JSON | --post-as-get]
      one signed request; prints {"status", "headers", "body"}.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import acme_jws  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID, ObjectIdentifier  # noqa: E402

POLL_LIMIT = 60          # polls of an authorization or order, at most
ACME_ID_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


class Client:
    def __init__(self, directory, ca, keyfile, alg):
        self.ctx = ssl.create_default_context(cafile=ca)
        self.key = acme_jws.load(keyfile)
        self.alg = alg
        self.kid = None
        self.dir = self.get_json(directory)
        self.nonce = None

    def request(self, url, data=None, ctype=None, method=None):
        req = urllib.request.Request(url, data=data, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get_json(self, url):
        st, _, body = self.request(url)
        if st != 200:
            raise SystemExit("GET %s: %d" % (url, st))
        return json.loads(body)

    def new_nonce(self):
        st, h, _ = self.request(self.dir["newNonce"], method="HEAD")
        return h["Replay-Nonce"]

    def post(self, url, payload, use_jwk=False, retries=3):
        """payload: dict, or None for POST-as-GET."""
        for _ in range(retries):
            nonce = self.nonce or self.new_nonce()
            self.nonce = None
            hdr = {"alg": self.alg, "nonce": nonce, "url": url}
            if use_jwk or not self.kid:
                hdr["jwk"] = acme_jws.public_jwk(self.key)
            else:
                hdr["kid"] = self.kid
            prot = acme_jws.b64url(json.dumps(hdr).encode())
            pl = "" if payload is None else acme_jws.b64url(
                json.dumps(payload).encode())
            sig = acme_jws.sign(self.key, self.alg, (prot + "." + pl).encode())
            body = json.dumps({"protected": prot, "payload": pl,
                               "signature": acme_jws.b64url(sig)}).encode()
            st, h, resp = self.request(url, body, "application/jose+json")
            self.nonce = h.get("Replay-Nonce")
            if st == 400 and b"badNonce" in resp:
                continue
            return st, h, resp
        return st, h, resp

    def account(self, eab_kid=None, eab_key=None):
        payload = {"termsOfServiceAgreed": True}
        if eab_kid:
            # RFC 8555 7.3.4: the account key MAC'ed with the EAB key.
            url = self.dir["newAccount"]
            prot = acme_jws.b64url(json.dumps(
                {"alg": "HS256", "kid": eab_kid, "url": url}).encode())
            pl = acme_jws.b64url(json.dumps(
                acme_jws.public_jwk(self.key)).encode())
            raw = base64.urlsafe_b64decode(eab_key + "=" * (-len(eab_key) % 4))
            mac = hmac.new(raw, (prot + "." + pl).encode(),
                           hashlib.sha256).digest()
            payload["externalAccountBinding"] = {
                "protected": prot, "payload": pl,
                "signature": acme_jws.b64url(mac)}
        st, h, body = self.post(self.dir["newAccount"], payload, use_jwk=True)
        if st not in (200, 201):
            raise SystemExit("newAccount: %d %s" % (st, body.decode()))
        self.kid = h["Location"]
        return self.kid

    def thumbprint(self):
        canon = json.dumps(acme_jws.public_jwk(self.key), sort_keys=True,
                           separators=(",", ":"))
        return acme_jws.b64url(hashlib.sha256(canon.encode()).digest())


def parse_names(s):
    out = []
    for n in s.split(","):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in n else socket.AF_INET, n)
            out.append({"type": "ip", "value": n})
        except OSError:
            out.append({"type": "dns", "value": n})
    return out


# ---- challenge servers ----

class Http01(http.server.BaseHTTPRequestHandler):
    tokens = {}

    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        tok = self.path[len(prefix):] if self.path.startswith(prefix) else None
        if tok in self.tokens:
            body = self.tokens[tok].encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *a):
        pass


def alpn_cert(ident, keyauth, tmpdir):
    """A self-signed certificate for tls-alpn-01 (RFC 8737 3)."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(keyauth.encode()).digest()
    ext_value = b"\x04\x20" + digest     # DER OCTET STRING of 32 bytes
    if ident["type"] == "ip":
        import ipaddress
        san = x509.IPAddress(ipaddress.ip_address(ident["value"]))
    else:
        san = x509.DNSName(ident["value"])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "acme-tls-alpn")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                       "acme-tls-alpn")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.UnrecognizedExtension(ACME_ID_OID, ext_value),
                           critical=True)
            .sign(key, hashes.SHA256()))
    cf = os.path.join(tmpdir, "alpn-%s.pem" % ident["value"].replace(":", "_"))
    with open(cf, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cf


def rdns_name(ip):
    import ipaddress
    return ipaddress.ip_address(ip).reverse_pointer


def serve_tls_alpn(port, certs):
    """certs: SNI name -> PEM file.  Serves until the process exits."""
    contexts = {}
    for name, cf in certs.items():
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.set_alpn_protocols(["acme-tls/1"])
        c.load_cert_chain(cf)
        contexts[name] = c
    first = next(iter(contexts.values()))

    def pick(sock, name, ctx):
        if name in contexts:
            sock.context = contexts[name]
    first.sni_callback = pick
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)

    def loop():
        while True:
            conn, _ = srv.accept()
            try:
                conn.settimeout(10)
                s = first.wrap_socket(conn, server_side=True)
                s.close()
            except (OSError, ssl.SSLError):
                conn.close()
    threading.Thread(target=loop, daemon=True).start()
    return srv


def dns_txt(mgmt, host, value):
    data = json.dumps({"host": host, "value": value}).encode()
    req = urllib.request.Request(mgmt.rstrip("/") + "/set-txt", data=data,
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def make_csr(names, keyfile, no_cn=False):
    if keyfile and os.path.exists(keyfile):
        with open(keyfile, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        if keyfile:
            with open(keyfile, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    import ipaddress
    sans = []
    for n in names:
        if n["type"] == "ip":
            sans.append(x509.IPAddress(ipaddress.ip_address(n["value"])))
        else:
            sans.append(x509.DNSName(n["value"]))
    subject = [] if no_cn else [x509.NameAttribute(NameOID.COMMON_NAME,
                                                   names[0]["value"])]
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name(subject))
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .sign(key, hashes.SHA256()))
    return acme_jws.b64url(csr.public_bytes(serialization.Encoding.DER))


def cmd_order(c, a, out):
    c.account(a.eab_kid, a.eab_key)
    idents = parse_names(a.names)
    payload = {"identifiers": idents}
    if a.not_after:
        payload["notAfter"] = a.not_after
    if a.replaces:
        payload["replaces"] = a.replaces
    st, h, body = c.post(c.dir["newOrder"], payload)
    out["new_order_status"] = st
    out["new_order_body"] = json.loads(body or b"{}")
    if st != 201:
        return
    order_url = h["Location"]
    out["order"] = order_url
    order = json.loads(body)
    tmpdir = tempfile.mkdtemp()
    thumb = c.thumbprint()
    alpn_certs = {}
    answered = []
    out["authz"] = []
    for az_url in order["authorizations"]:
        st, _, body = c.post(az_url, None)
        az = json.loads(body)
        out["authz"].append({"url": az_url, "status": az["status"],
                             "challenges": [ch["type"] for ch in az["challenges"]],
                             "wildcard": az.get("wildcard", False)})
        if az["status"] == "valid" or a.challenge == "none":
            continue
        ch = next((x for x in az["challenges"] if x["type"] == a.challenge), None)
        if ch is None:
            out["error"] = "no %s challenge offered" % a.challenge
            return
        keyauth = ch["token"] + "." + thumb
        if a.wrong_keyauth:
            keyauth = ch["token"] + "." + "x" * 43
        ident = az["identifier"]
        if a.challenge == "http-01":
            Http01.tokens[ch["token"]] = keyauth
        elif a.challenge == "tls-alpn-01":
            sni = rdns_name(ident["value"]) if ident["type"] == "ip" else ident["value"]
            alpn_certs[sni] = alpn_cert(ident, keyauth, tmpdir)
        elif a.challenge == "dns-01":
            dns_txt(a.dns_mgmt, "_acme-challenge.%s." % ident["value"],
                    acme_jws.b64url(hashlib.sha256(keyauth.encode()).digest()))
        answered.append((az_url, ch["url"]))
    if a.challenge == "http-01" and answered:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Http01)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if a.challenge == "tls-alpn-01" and alpn_certs:
        serve_tls_alpn(a.port, alpn_certs)
    if a.no_answer or (a.challenge == "none" and order["status"] == "pending"):
        out["status"] = order["status"]
        return
    for az_url, ch_url in answered:
        st, h, body = c.post(ch_url, {})
        out.setdefault("challenge_status", []).append(st)
        out.setdefault("challenge_retry_after", []).append(h.get("Retry-After"))
    # Poll the order until it leaves pending (bounded).
    for _ in range(POLL_LIMIT):
        st, h, body = c.post(order_url, None)
        order = json.loads(body)
        if order["status"] != "pending":
            break
        time.sleep(min(float(h.get("Retry-After", "1")), 2))
    out["status"] = order["status"]
    out["order_json"] = order
    if order["status"] != "ready" or a.skip_finalize:
        for az_url, _ in answered:
            st, _, body = c.post(az_url, None)
            out.setdefault("authz_after", []).append(json.loads(body))
        return
    csr_names = parse_names(a.csr_names) if a.csr_names else idents
    st, h, body = c.post(order["finalize"], {"csr": make_csr(csr_names, a.csr_key, a.csr_no_cn)})
    out["finalize_status"] = st
    out["finalize_body"] = json.loads(body or b"{}")
    if st != 200:
        return
    order = json.loads(body)
    for _ in range(POLL_LIMIT):
        if order["status"] != "processing":
            break
        time.sleep(1)
        st, h, body = c.post(order_url, None)
        order = json.loads(body)
    out["status"] = order["status"]
    out["order_json"] = order
    st, h, body = c.post(order["certificate"], None)
    out["cert_status"] = st
    out["cert_type"] = h.get("Content-Type")
    out["cert"] = body.decode()
    if a.cert_out:
        with open(a.cert_out, "w") as f:
            f.write(body.decode())
    out["serial"] = order["certificate"].rsplit("/", 1)[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--alg", default="ES256")
    ap.add_argument("--eab-kid")
    ap.add_argument("--eab-key")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("account")
    o = sub.add_parser("order")
    o.add_argument("names")
    o.add_argument("--challenge", default="http-01")
    o.add_argument("--port", type=int, default=0)
    o.add_argument("--dns-mgmt")
    o.add_argument("--wrong-keyauth", action="store_true")
    o.add_argument("--no-answer", action="store_true")
    o.add_argument("--not-after")
    o.add_argument("--replaces")
    o.add_argument("--csr-names")
    o.add_argument("--csr-key")
    o.add_argument("--csr-no-cn", action="store_true")
    o.add_argument("--cert-out")
    o.add_argument("--skip-finalize", action="store_true")
    p = sub.add_parser("post")
    p.add_argument("url")
    p.add_argument("--payload")
    p.add_argument("--post-as-get", action="store_true")
    a = ap.parse_args()

    c = Client(a.dir, a.ca, a.key, a.alg)
    if a.cmd == "account":
        print(c.account(a.eab_kid, a.eab_key))
        return
    if a.cmd == "post":
        c.account()
        st, h, body = c.post(a.url, None if a.post_as_get else
                             json.loads(a.payload or "{}"))
        try:
            b = json.loads(body)
        except ValueError:
            b = body.decode(errors="replace")
        json.dump({"status": st, "headers": h, "body": b}, sys.stdout)
        print()
        return
    out = {}
    try:
        cmd_order(c, a, out)
    finally:
        json.dump(out, sys.stdout)
        print()


if __name__ == "__main__":
    main()
