"""Client authentication said truthfully, against a real nginx and ``openssl s_server``.

``required``: the TLS layer refuses us without a certificate. ``requested``: a CertificateRequest
came and the handshake completed without one. With the HTTP check: ``required-by-application``
(nginx ``ssl_verify_client on`` completes the handshake and answers 400 "No required SSL
certificate was sent") or ``optional`` (served without a certificate). Never ``optional``
without an answer that shows it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest

from scanner.lab.pki import Issued, LabPKI
from scanner.probe import http
from scanner.probe.tls import probe
from scanner.targets import load_targets
from tests.lab_fixtures import leaf, pki  # noqa: F401 - fixtures
from tests.local_servers import NGINX, free_port, start_nginx, stop, wait_listening

HOSTNAME = "gw.dcc-user.example"
OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class Files:
    chain: Path
    key: Path
    client_ca: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, pki: LabPKI, leaf: Issued) -> Files:
    folder = tmp_path_factory.mktemp("client-auth")
    (folder / "chain.pem").write_bytes(leaf.chain_pem())
    (folder / "key.pem").write_bytes(leaf.key_pem)
    (folder / "ca.pem").write_bytes(pki.issuing.pem)
    return Files(folder / "chain.pem", folder / "key.pem", folder / "ca.pem")


# ---- nginx -----------------------------------------------------------------------------------

# name -> (ssl_verify_client, protocols, listen options, what "/" does)
NGINX_SERVERS = {
    "on": ("on", "TLSv1.2 TLSv1.3", "ssl", 'return 200 "ok\\n";'),
    "on-tls12": ("on", "TLSv1.2", "ssl", 'return 200 "ok\\n";'),
    "on-h2": ("on", "TLSv1.2 TLSv1.3", "ssl http2", 'return 200 "ok\\n";'),
    "optional": ("optional", "TLSv1.2 TLSv1.3", "ssl", 'return 200 "ok\\n";'),
    "optional-h2": ("optional", "TLSv1.3", "ssl http2", 'return 200 "ok\\n";'),
    "optional-403": ("optional", "TLSv1.3", "ssl",
                     'if ($ssl_client_verify != SUCCESS) { return 403; } return 200 "ok\\n";'),
    "off": ("off", "TLSv1.3", "ssl", 'return 200 "ok\\n";'),
}


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, files: Files) -> Iterator[dict[str, int]]:
    """One nginx (Debian nginx-light) in a temporary prefix, a server block per setting."""
    if not Path(NGINX).exists():
        pytest.skip(f"nginx is not installed ({NGINX}); tests/run.py installs nginx-light")
    prefix = tmp_path_factory.mktemp("nginx")
    ports = {name: free_port() for name in NGINX_SERVERS}
    servers = "\n".join(f"""
    server {{
        listen 127.0.0.1:{ports[name]} {listen};
        server_name {HOSTNAME};
        ssl_certificate {files.chain};
        ssl_certificate_key {files.key};
        ssl_client_certificate {files.client_ca};
        ssl_verify_client {verify};
        ssl_protocols {protocols};
        location / {{ {location} }}
    }}""" for name, (verify, protocols, listen, location) in NGINX_SERVERS.items())
    proc = start_nginx(prefix, servers, ports.values())
    try:
        yield ports
    finally:
        stop(proc)


@pytest.mark.parametrize("server", ["on", "on-tls12", "on-h2"])
async def test_nginx_verify_on_is_required_by_the_application(nginx: dict[str, int], server: str) -> None:
    capture = await probe("127.0.0.1", nginx[server], hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "required-by-application"
    assert capture.client_auth_http is not None and capture.client_auth_http["status"] == 400
    assert "No required SSL certificate was sent" in capture.client_auth_http["said"]
    if server == "on-h2":
        assert capture.alpn == "h2"
        assert f":authority: gw.dcc-user.example:{nginx[server]}\r\n" in capture.client_auth_http["request"]
    else:
        assert capture.client_auth_http["request"].startswith("GET / HTTP/1.1\r\nHost: gw.dcc-user.example:")
    assert capture.chain and not capture.client_cert_sent


async def test_nginx_verify_on_without_the_http_check_is_requested(nginx: dict[str, int]) -> None:
    """The TLS layer alone cannot tell: nginx completed the handshake. 'requested', not 'optional'."""
    capture = await probe("127.0.0.1", nginx["on"], hostname=HOSTNAME, timeout=10)
    assert capture.client_auth == "requested" and capture.client_auth_http is None


@pytest.mark.parametrize("server", ["optional", "optional-h2"])
async def test_nginx_verify_optional_is_optional(nginx: dict[str, int], server: str) -> None:
    capture = await probe("127.0.0.1", nginx[server], hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "optional"
    assert capture.client_auth_http is not None and capture.client_auth_http["status"] == 200


async def test_nginx_refusal_that_names_no_certificate_stays_requested(nginx: dict[str, int]) -> None:
    """A bare 403 may be about anything: recorded, but not called evidence either way."""
    capture = await probe("127.0.0.1", nginx["optional-403"], hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "requested"
    assert capture.client_auth_http is not None and capture.client_auth_http["status"] == 403


async def test_nginx_without_client_auth_is_none_and_asks_nothing(nginx: dict[str, int]) -> None:
    capture = await probe("127.0.0.1", nginx["off"], hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "none" and capture.client_auth_http is None


# ---- openssl s_server ------------------------------------------------------------------------

@pytest.fixture
def s_server(files: Files) -> Iterator[object]:
    """Start ``openssl s_server -www`` with the given options; stopped after the test."""
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    started: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> int:
        port = free_port()
        assert OPENSSL is not None
        proc = subprocess.Popen([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(files.chain),
                                 "-key", str(files.key), "-CAfile", str(files.client_ca), "-www", "-quiet",
                                 *options], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started.append(proc)
        wait_listening(port, proc, "openssl s_server")
        return port

    yield start
    for proc in started:
        stop(proc)


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_s_server_Verify_is_required(s_server: object, version: str) -> None:  # noqa: N802
    port = s_server("-Verify", "1", version)  # type: ignore[operator]
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "required" and capture.chain
    assert capture.client_auth_http is None  # the TLS layer said it: no HTTP request needed


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_s_server_verify_is_requested_then_optional(s_server: object, version: str) -> None:
    port = s_server("-verify", "1", version)  # type: ignore[operator]
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    assert capture.client_auth == "requested"
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "optional" and capture.client_auth_http is not None
    assert capture.client_auth_http["status"] == 200


# ---- the judgement and the setting ----------------------------------------------------------

@pytest.mark.parametrize(("answer", "expected"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "optional"),
    (b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n", "optional"),
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 60\r\n\r\n<title>400 No required SSL certificate was sent</title>",
     "required-by-application"),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 40\r\n\r\n403.7 Client certificate required", "required-by-application"),
    (b"HTTP/1.1 496 SSL Certificate Required\r\nContent-Length: 0\r\n\r\n", "required-by-application"),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nForbidden", "requested"),
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "requested"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "requested"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntruncated", "optional"),
])
def test_judge(answer: bytes, expected: str) -> None:
    judged = http.judge(answer)
    assert judged.client_auth == expected, judged.note
    assert judged.note


def test_request_says_what_it_sends() -> None:
    assert http.request_for("gw.example", 443).text(None).startswith("GET / HTTP/1.1\r\nHost: gw.example\r\n")
    assert "Host: [::1]:8443\r\n" in http.request_for("::1", 8443).text("http/1.1")
    assert http.request_for("gw.example", 443).text(None).endswith("Connection: close\r\n\r\n")
    assert ":authority: gw.example\r\n" in http.request_for("gw.example", 443).text("h2")


def test_http_check_is_on_for_gateways_and_a_setting_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "targets.toml"
    path.write_text('[[target]]\nname = "gw"\ninterface = "gateway"\nhost = "127.0.0.1"\n'
                    '[[target]]\nname = "other"\nhost = "127.0.0.1"\n'
                    '[[target]]\nname = "asked"\nhost = "127.0.0.1"\nhttp_check = true\n'
                    '[[target]]\nname = "quiet-gw"\ninterface = "gateway"\nhost = "127.0.0.1"\nhttp_check = false\n')
    checks = {t.name: t.http_check for t in load_targets(path).targets}
    assert checks == {"gw": True, "other": False, "asked": True, "quiet-gw": False}


def test_http_check_must_be_a_boolean(tmp_path: Path) -> None:
    from scanner.errors import InputError
    path = tmp_path / "targets.toml"
    path.write_text('[[target]]\nname = "gw"\nhost = "127.0.0.1"\nhttp_check = "yes"\n')
    with pytest.raises(InputError) as caught:
        load_targets(path)
    assert "http_check" in str(caught.value) and caught.value.line == 4


# ---- end to end: the targets file's gateway default and the command-line flag ---------------

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())


def scan(*args: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from scanner.cli import cli
    result = CliRunner().invoke(cli, ["scan", *args, "--format", "json", "--fail-on", "never", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    document: dict[str, Any] = json.loads((out / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    return document


def test_scan_asks_gateways_by_default(nginx: dict[str, int], tmp_path: Path) -> None:
    (tmp_path / "targets.toml").write_text(
        f'[[target]]\nname = "gw"\ninterface = "gateway"\nhost = "127.0.0.1"\nhostname = "{HOSTNAME}"\n'
        f'port = {nginx["on"]}\n'
        f'[[target]]\nname = "other"\nhost = "127.0.0.1"\nhostname = "{HOSTNAME}"\nport = {nginx["on"]}\n')
    document = scan("--targets", str(tmp_path / "targets.toml"), "--out", str(tmp_path / "out"))
    auth = {e["target"]["name"]: e["tls"]["client_auth"] for e in document["endpoints"]}
    assert auth == {"gw": "required-by-application", "other": "requested"}
    gateway = next(e for e in document["endpoints"] if e["target"]["name"] == "gw")
    assert gateway["tls"]["client_auth_http"]["status"] == 400


def test_scan_flag_asks_any_endpoint(nginx: dict[str, int], tmp_path: Path) -> None:
    target = f"127.0.0.1:{nginx['optional']}"
    asked = scan(target, "--hostname", HOSTNAME, "--http-check", "--out", str(tmp_path / "a"))
    quiet = scan(target, "--hostname", HOSTNAME, "--out", str(tmp_path / "b"))
    assert asked["endpoints"][0]["tls"]["client_auth"] == "optional"
    assert quiet["endpoints"][0]["tls"]["client_auth"] == "requested"
    assert quiet["endpoints"][0]["tls"]["client_auth_http"] is None
