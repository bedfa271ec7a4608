"""The certificate model: what a certificate is, read once (``certificate``), the raw facts only its
encoding shows (``asn1``) and the identities it presents (``identity``). Shared by the engine
(``scanner.evaluate``), the checks (``scanner.checks``) and the records (``scanner.certinfo``),
and importing none of them."""
