#!/usr/bin/env python3
"""Test helper: ACME (RFC 8555) request bodies, flattened JWS signed with
python3-cryptography (the CA verifies with cjose).

usage:
  acme_jws.py keygen TYPE FILE        TYPE: ec256 ec384 rsa2048 rsa4096 ed25519
  acme_jws.py thumbprint FILE         the key's RFC 7638 thumbprint
  acme_jws.py sign FILE ALG URL --nonce=NONCE [--kid KID] [--with-jwk]
                   [--payload JSON | --post-as-get] [--tamper]
      prints {"protected", "payload", "signature"}; the header carries
      jwk unless --kid (both with --kid and --with-jwk).  ALG: ES256,
      ES384, RS256, PS256, EdDSA.  (--nonce=N: a nonce may begin with
      '-', which argparse would take for an option.)
  acme_jws.py eab ACCOUNT_KEY KID HMAC_KEY URL [--alg HS256|HS384|HS512]
                  [--nonce=NONCE] [--payload-key FILE]
      prints an externalAccountBinding (RFC 8555 7.3.4): a flattened JWS,
      MAC'ed with HMAC_KEY (base64url), over ACCOUNT_KEY's public JWK (or
      --payload-key's, to bind the wrong key)
  acme_jws.py keychange NEW_KEY ALG URL ACCOUNT OLD_KEY [--nonce=NONCE]
      prints keyChange's inner JWS (RFC 8555 7.3.5), signed by NEW_KEY
      with its jwk, payload {"account": ACCOUNT, "oldKey": OLD_KEY's JWK}
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def int_b64(n, width=None):
    length = width if width else (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(length, "big"))


def load(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def public_jwk(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums = key.public_key().public_numbers()
        width = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
        return {"kty": "EC", "crv": crv, "x": int_b64(nums.x, width),
                "y": int_b64(nums.y, width)}
    if isinstance(key, rsa.RSAPrivateKey):
        nums = key.public_key().public_numbers()
        return {"kty": "RSA", "n": int_b64(nums.n), "e": int_b64(nums.e)}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    raise SystemExit("unsupported key")


def sign(key, alg, data):
    if alg in ("ES256", "ES384"):
        h = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
        der = key.sign(data, ec.ECDSA(h))
        r, s = utils.decode_dss_signature(der)
        width = (key.curve.key_size + 7) // 8
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                          salt_length=32), hashes.SHA256())
    if alg == "EdDSA":
        return key.sign(data)
    raise SystemExit("unsupported alg " + alg)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("type")
    k.add_argument("file")
    t = sub.add_parser("thumbprint")
    t.add_argument("file")
    s = sub.add_parser("sign")
    s.add_argument("file")
    s.add_argument("alg")
    s.add_argument("url")
    s.add_argument("--nonce", required=True)
    s.add_argument("--kid")
    s.add_argument("--with-jwk", action="store_true")
    s.add_argument("--payload")
    s.add_argument("--post-as-get", action="store_true")
    s.add_argument("--tamper", action="store_true")
    s.add_argument("--extra-header", help="JSON object merged into the header")
    b = sub.add_parser("eab")
    b.add_argument("file")
    b.add_argument("kid")
    b.add_argument("hmac_key")
    b.add_argument("url")
    b.add_argument("--alg", default="HS256")
    b.add_argument("--nonce")
    b.add_argument("--payload-key")
    c = sub.add_parser("keychange")
    c.add_argument("file")
    c.add_argument("alg")
    c.add_argument("url")
    c.add_argument("account")
    c.add_argument("old_key")
    c.add_argument("--nonce")
    a = ap.parse_args()

    if a.cmd == "keygen":
        key = {
            "ec256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "ec384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
            "rsa4096": lambda: rsa.generate_private_key(65537, 4096),
            "ed25519": ed25519.Ed25519PrivateKey.generate,
        }[a.type]()
        with open(a.file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return
    key = load(a.file)
    if a.cmd == "eab":
        hdr = {"alg": a.alg, "kid": a.kid, "url": a.url}
        if a.nonce:
            hdr["nonce"] = a.nonce
        bound = load(a.payload_key) if a.payload_key else key
        protected = b64url(json.dumps(hdr).encode())
        payload = b64url(json.dumps(public_jwk(bound)).encode())
        raw = base64.urlsafe_b64decode(a.hmac_key + "=" * (-len(a.hmac_key) % 4))
        # Another alg is still MAC'ed with SHA-256: a binding that lies.
        digest = {"HS384": hashlib.sha384,
                  "HS512": hashlib.sha512}.get(a.alg, hashlib.sha256)
        mac = hmac.new(raw, (protected + "." + payload).encode(), digest).digest()
        json.dump({"protected": protected, "payload": payload,
                   "signature": b64url(mac)}, sys.stdout)
        print()
        return
    if a.cmd == "keychange":
        hdr = {"alg": a.alg, "jwk": public_jwk(key), "url": a.url}
        if a.nonce:
            hdr["nonce"] = a.nonce
        protected = b64url(json.dumps(hdr).encode())
        payload = b64url(json.dumps({"account": a.account,
                                     "oldKey": public_jwk(load(a.old_key))}).encode())
        sig = sign(key, a.alg, (protected + "." + payload).encode())
        json.dump({"protected": protected, "payload": payload,
                   "signature": b64url(sig)}, sys.stdout)
        print()
        return
    if a.cmd == "thumbprint":
        canon = json.dumps(public_jwk(key), sort_keys=True,
                           separators=(",", ":"))
        print(b64url(hashlib.sha256(canon.encode()).digest()))
        return
    hdr = {"alg": a.alg, "nonce": a.nonce, "url": a.url}
    if a.kid:
        hdr["kid"] = a.kid
    if a.extra_header:
        hdr.update(json.loads(a.extra_header))
    if not a.kid or a.with_jwk:
        hdr["jwk"] = public_jwk(key)
    protected = b64url(json.dumps(hdr).encode())
    payload = "" if a.post_as_get else b64url((a.payload or "{}").encode())
    sig = sign(key, a.alg, (protected + "." + payload).encode())
    if a.tamper:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    json.dump({"protected": protected, "payload": payload,
               "signature": b64url(sig)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
