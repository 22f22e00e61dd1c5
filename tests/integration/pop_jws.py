#!/usr/bin/env python3
"""Test helper: a proof-of-possession JWS for POST /v1/revoke, signed by a
certificate's own key (python3-cryptography; the CA verifies with cjose).

usage: pop_jws.py CERT_PEM KEY_PEM AUD [--ttl S] [--alg A] [--x5c PEM]
  --ttl   exp - iat in seconds (default 120)
  --x5c   put this certificate in the header instead of CERT_PEM
"""
import argparse
import base64
import json
import os
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cert")
    ap.add_argument("key")
    ap.add_argument("aud")
    ap.add_argument("--ttl", type=int, default=120)
    ap.add_argument("--alg")
    ap.add_argument("--x5c")
    a = ap.parse_args()
    cert = x509.load_pem_x509_certificate(open(a.x5c or a.cert, "rb").read())
    key = serialization.load_pem_private_key(open(a.key, "rb").read(), None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        alg = a.alg or {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
        h = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[alg]
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = a.alg or "RS256"
        h = hashes.SHA256()
    else:
        raise SystemExit("unsupported key")
    header = {"alg": alg, "x5c": [base64.b64encode(
        cert.public_bytes(serialization.Encoding.DER)).decode()]}
    now = int(time.time())
    claims = {"aud": a.aud, "iat": now, "exp": now + a.ttl, "jti": os.urandom(16).hex()}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(h)))
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif alg.startswith("PS"):
        sig = key.sign(signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        sig = key.sign(signing_input, padding.PKCS1v15(), h)
    print(signing_input.decode() + "." + b64url(sig))


main()
