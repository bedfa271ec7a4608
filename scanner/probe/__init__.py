"""Network probing: the only package that does network I/O.

``resolve`` turns a host into addresses, ``tls`` does one handshake and captures what the server
presented, ``runner`` scans many targets concurrently and streams one record per endpoint.
"""
