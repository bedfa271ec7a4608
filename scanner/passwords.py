"""Where the password of an encrypted key comes from: one source per kind of key.

Why per key: a nightly run can use a mutual-TLS client key and an evidence signing key that
belong to different people and have different passwords; one shared variable made that
impossible. Each source is, in order:

1. its password file (``--client-key-password-file`` / ``--sign-key-password-file``): the first
   line, without its line ending (a file a service manager or a secrets tool can provide);
2. its own environment variable (``DCCSCAN_CLIENT_KEY_PASSWORD`` / ``DCCSCAN_SIGN_KEY_PASSWORD``);
3. ``DCCSCAN_KEY_PASSWORD``, shared by both (what earlier versions read);
4. a prompt, when the caller allows one (a client key on a terminal).

The password file is the command line's choice for this process (``use_file``), set by the
option's callback on every invocation, so an earlier in-process invocation never leaks into the
next one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from scanner.errors import read_input

SHARED_ENV = "DCCSCAN_KEY_PASSWORD"


@dataclass
class PasswordSource:
    """The password of one kind of key (``what``: "client key", "signing key")."""

    what: str
    env: str
    option: str
    file: Path | None = field(default=None)

    def use_file(self, path: Path | None) -> None:
        """The password file given on the command line (None: not given)."""
        self.file = path

    def password(self, prompt: Callable[[str], str] | None = None, key: Path | None = None) -> bytes | None:
        """The password, or None when no source has one."""
        if self.file is not None:
            data = read_input(self.file, f"the password file of {self.option}",
                              fix=f"give {self.option} a readable file holding the {self.what}'s password")
            lines = data.decode("utf-8").splitlines()
            return lines[0].encode("utf-8") if lines else b""
        for name in (self.env, SHARED_ENV):
            if name in os.environ:
                return os.environ[name].encode("utf-8")
        if prompt is not None:
            return prompt(f"Password for {key or 'the ' + self.what}: ").encode("utf-8")
        return None

    def where(self) -> str:
        """Where this password was (or would have been) read from, for a "wrong password" message."""
        if self.file is not None:
            return f"the password in {self.file} ({self.option})"
        for name in (self.env, SHARED_ENV):
            if name in os.environ:
                return name
        return "the password you typed"

    def fix(self, prompt: bool) -> str:
        """How to give the password, for a "no password was given" message."""
        text = f"set {self.env} (or {SHARED_ENV} for every key), or pass {self.option} FILE"
        return text + (", or run from a terminal to be prompted" if prompt else "")


CLIENT_KEY = PasswordSource("client key", "DCCSCAN_CLIENT_KEY_PASSWORD", "--client-key-password-file")
SIGN_KEY = PasswordSource("signing key", "DCCSCAN_SIGN_KEY_PASSWORD", "--sign-key-password-file")
