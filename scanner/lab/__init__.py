"""The test and demo estate: a generated DCCKI-like PKI and TLS servers on 127.0.0.1.

Used by ``dccscan demo``, by the tests and by the benchmarks; never by a real scan.
"""
