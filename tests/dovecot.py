"""A throwaway Dovecot IMAP server on 127.0.0.1 for integration tests.

`DovecotServer` writes a self-contained configuration into a temporary
directory (maildir mail, its own base_dir and log file) and
runs ``dovecot -F -c CONFIG`` as a child process on a free loopback port, with
an optional TLS listener (993-style) using a self-signed certificate it makes.
Any username logs in with ``PASSWORD`` (a static passdb) and gets its own
empty maildir, so one server serves a whole session, a fresh user per test
(starting takes 0.1 s, but stopping takes 1 s). Under root the mail processes
run as Debian's ``dovecot`` user, which owns the mail directory; otherwise
everything runs as the current user.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from certs import write_tls_pair
from dnsserver import HOST, pick_free_port

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
# Debian's dovecot-core creates this user; mail processes refuse to run as root.
ROOT_MAIL_USER = "dovecot"
ROOT_LOGIN_USER = "dovenull"
USERNAME = "fbl"
PASSWORD = "fbl-test-password"
_START_ATTEMPTS = 5
_READY_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.02


class DovecotError(RuntimeError):
    """Dovecot failed to start or stop; the message carries its log."""


def find_dovecot() -> Path | None:
    """Path of the dovecot master binary, or None when dovecot-imapd is not installed."""
    for candidate in (shutil.which("dovecot"), *DOVECOT_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            # The IMAP server proper comes from dovecot-imapd, not dovecot-core.
            imap = Path(candidate).resolve().parent.parent / "lib" / "dovecot" / "imap"
            if imap.exists() or Path("/usr/lib/dovecot/imap").exists():
                return Path(candidate)
    return None


def missing_prerequisite() -> str | None:
    """Why a Dovecot cannot be started here, or None when it can."""
    if find_dovecot() is None:
        return "Dovecot not installed: apt-get install dovecot-imapd"
    if os.geteuid() == 0:
        for user in (ROOT_MAIL_USER, ROOT_LOGIN_USER):
            try:
                pwd.getpwnam(user)
            except KeyError:
                return f"running as root needs a {user!r} user (created by dovecot-core)"
    return None


def dovecot_version(binary: Path) -> str:
    """``dovecot --version``, e.g. ``"2.3.19.1 (9b53102964)"``."""
    return subprocess.run(
        [str(binary), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass(frozen=True, slots=True)
class Listener:
    """Where the server listens: plain IMAP (STARTTLS offered when TLS is on) and IMAPS."""

    host: str
    imap_port: int
    imaps_port: int | None


class DovecotServer:
    """One Dovecot: ``start()``, ``account(user)``, ``append(raw, mailbox)``, ``stop()``.

    With ``tls=True`` it also listens for implicit TLS and offers STARTTLS, with a
    self-signed certificate for 127.0.0.1 whose path is ``ca_file``.
    """

    def __init__(self, binary: Path, *, tls: bool = False, separator: str = "/") -> None:
        self._binary = binary
        self._tls = tls
        self._separator = separator  # the namespace's hierarchy separator (Dovecot's: ".")
        # mkdtemp, not pytest's tmp_path: unix sockets live in base_dir and
        # sun_path is only 108 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="dm-dovecot-"))
        self.directory.chmod(0o755)
        self.config_file = self.directory / "dovecot.conf"
        self.log_file = self.directory / "dovecot.log"
        self.ca_file = self.directory / "cert.pem"
        self.username = USERNAME
        self.password = PASSWORD
        self.listener = Listener(HOST, 0, None)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def port(self) -> int:
        return self.listener.imap_port

    def start(self) -> Self:
        """Start on free ports (retrying when another process takes one first).

        Raises:
            DovecotError: it did not come up; the message has the log.
        """
        if self._tls:
            write_tls_pair(
                self.ca_file,
                self.directory / "key.pem",
                common_name="delivermon test IMAP",
                hosts=("localhost", HOST),
            )
        self._prepare_directories()
        for _ in range(_START_ATTEMPTS):
            imap_port = pick_free_port()
            imaps_port = pick_free_port() if self._tls else None
            self.listener = Listener(HOST, imap_port, imaps_port)
            self.config_file.write_text(self._config())
            self.log_file.write_text("")
            self._process = subprocess.Popen(
                [str(self._binary), "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return self
            self._terminate()
            if "Address already in use" not in self._log():
                break
        raise DovecotError(f"dovecot did not start; log:\n{self._log()}")

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self._terminate()
        shutil.rmtree(self.directory, ignore_errors=True)

    def account(self, username: str) -> DovecotAccount:
        """A view of the server for one user: every user has its own, initially empty, mail."""
        return DovecotAccount(self, username)

    def append(self, raw: bytes, mailbox: str = "INBOX", *, username: str = USERNAME) -> None:
        """Deliver ``raw`` into ``mailbox`` over IMAP APPEND (creating the mailbox if needed)."""
        with self._client(username) as client:
            if mailbox.upper() != "INBOX":
                client.create(_quote(mailbox))  # NO when it exists: fine
            status, _ = client.append(_quote(mailbox), "", imaplib.Time2Internaldate(0), raw)
            if status != "OK":
                raise DovecotError(f"APPEND to {mailbox} failed")

    def messages(self, mailbox: str = "INBOX", *, username: str = USERNAME) -> list[bytes]:
        """The raw messages in ``mailbox`` (not expunged), in UID order; [] if it does not exist."""
        with self._client(username) as client:
            status, _ = client.select(_quote(mailbox), readonly=True)
            if status != "OK":
                return []
            _, data = client.uid("SEARCH", "ALL")
            uids = data[0].split() if data and data[0] else []
            found: list[bytes] = []
            for uid in uids:
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                found += [p[1] for p in parts if isinstance(p, tuple)]
            return found

    def mailboxes(self, *, username: str = USERNAME) -> list[str]:
        """Names (raw, modified UTF-7) of every mailbox of the user."""
        with self._client(username) as client:
            _, data = client.list()
        names = []
        for line in data:
            if isinstance(line, bytes):
                names.append(line.rsplit(b'" ', 1)[-1].strip(b'"').decode())
        return names

    @contextlib.contextmanager
    def _client(self, username: str) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(username, self.password)
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def _prepare_directories(self) -> None:
        for name in ("run", "state", "mail"):
            (self.directory / name).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam(ROOT_MAIL_USER)
            os.chown(self.directory / "mail", mail_user.pw_uid, mail_user.pw_gid)

    def _config(self) -> str:
        d = self.directory
        if os.geteuid() == 0:
            internal_user, login_user, mail_user = ROOT_MAIL_USER, ROOT_LOGIN_USER, ROOT_MAIL_USER
            chroot = "login"
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            internal_user = login_user = mail_user = me
            chroot = ""  # only root can chroot
        mail_group = grp.getgrgid(pwd.getpwnam(mail_user).pw_gid).gr_name
        if self._tls:
            ssl = f"ssl = yes\nssl_cert = <{self.ca_file}\nssl_key = <{d / 'key.pem'}\n"
            imaps = (
                f"inet_listener imaps {{\n    address = {HOST}\n"
                f"    port = {self.listener.imaps_port}\n  }}"
            )
        else:
            ssl = "ssl = no\n"
            imaps = "inet_listener imaps {\n    port = 0\n  }"
        return f"""# delivermon test server (tests/dovecot.py); Dovecot 2.3 syntax
instance_name = delivermon-test-{self.listener.imap_port}
base_dir = {d / "run"}
state_dir = {d / "state"}
protocols = imap
listen = {HOST}
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
log_path = {self.log_file}
info_log_path = {self.log_file}
default_internal_user = {internal_user}
default_internal_group = {mail_group}
default_login_user = {login_user}
mail_uid = {mail_user}
mail_gid = {mail_group}
first_valid_uid = 1
mail_location = maildir:{d / "mail"}/%u
namespace inbox {{
  inbox = yes
  separator = {self._separator}
}}
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = home={d / "mail"}/%u
}}
# No anvil auth penalty: a wrong-password test must not slow every later login.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot = {chroot}
  inet_listener imap {{
    address = {HOST}
    port = {self.listener.imap_port}
  }}
  {imaps}
}}
"""

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _READY_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1) as sock,
            ):
                sock.settimeout(2)
                if sock.recv(512).startswith(b"* OK"):
                    return True
            time.sleep(_POLL_INTERVAL)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"


@dataclass(frozen=True, slots=True)
class DovecotAccount:
    """One user's mail on a shared `DovecotServer`; what the ``dovecot`` fixture returns."""

    server: DovecotServer
    username: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def listener(self) -> Listener:
        return self.server.listener

    @property
    def password(self) -> str:
        return self.server.password

    @property
    def ca_file(self) -> Path:
        return self.server.ca_file

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        self.server.append(raw, mailbox, username=self.username)

    def messages(self, mailbox: str = "INBOX") -> list[bytes]:
        return self.server.messages(mailbox, username=self.username)

    def mailboxes(self) -> list[str]:
        return self.server.mailboxes(username=self.username)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
