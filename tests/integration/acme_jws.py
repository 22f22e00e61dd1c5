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
"""
import argparse
import base64
import hashlib
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
    if a.cmd == "thumbprint":
        canon = json.dumps(public_jwk(key), sort_keys=True,
                           separators=(",", ":"))
        print(b64url(hashlib.sha256(canon.encode()).digest()))
        return
    hdr = {"alg": a.alg, "nonce": a.nonce, "url": a.url}
    if a.kid:
        hdr["kid"] = a.kid
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
