"""Whether an issuer's key verifies a certificate's signature, whatever the hash: shared by the
path builder (``scanner.evaluate.path``) and revocation (the probe, which looks for the issuer
of each certificate it fetches for, and the engine, which judges), so both agree on who issued
what.

cryptography's ``verify_directly_issued_by`` refuses SHA-1 and MD5 signatures, but a browser's
verdict on a SHA-1 chain is "weak algorithm", not "bad signature", and the issuer of a SHA-1
certificate is still its issuer; so the signature is verified with the issuer's public key here.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa


def verify_signature(child: x509.Certificate, key: object) -> None:
    """Verify ``child``'s signature with ``issuer``'s key, whatever the hash (SHA-1 and MD5 too:
    cryptography's ``verify_directly_issued_by`` refuses those, but a browser's verdict on a SHA-1
    chain is "weak algorithm", not "bad signature", so we must tell the two apart). ``key``: the
    issuer's public key."""
    data, signature, digest = child.tbs_certificate_bytes, child.signature, child.signature_hash_algorithm
    if isinstance(key, rsa.RSAPublicKey):
        params = child.signature_algorithm_parameters
        pad = params if isinstance(params, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
        key.verify(signature, data, pad, digest)  # type: ignore[arg-type]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(digest))  # type: ignore[arg-type]
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key.verify(signature, data)
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(signature, data, digest)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unsupported issuer key {type(key).__name__}")
