"""NATS authentication and TLS (doc/nats.md, "Connecting"): the relay's
--publish, the edge relay's --from and `ctflive view/ls nats://` take the
same --nats-* options, against a real nats-server whose configuration,
certificates (openssl) and NKey (ed25519, NKeys encoding) are made by the
test. Right credentials: the session is published and read back whole.
Wrong or missing ones: a clear error at once, never a hang."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time

import pytest

import lttng_harness as h
from live_support import HOST
from test_nats import NATS_SERVER, NatsServer, ctflive, events_of, have_nats_support, run_session

pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")

EVENTS = 300


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def nkey_encode(prefix: bytes, raw: bytes) -> str:
    body = prefix + raw
    return base64.b32encode(body + crc16_xmodem(body).to_bytes(2, "little")).decode().rstrip("=")


# NKeys type prefixes (the first byte of an encoded public key: "O", "A", "U").
NKEY_TYPES = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def make_nkey(seed: bytes, kind: str = "user"):
    """(seed "S...", public key, signing key) of an NKey of `kind` (NKeys
    encoding: seed prefix 18 << 3 merged with the type prefix)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    t = NKEY_TYPES[kind]
    prefix = bytes([(18 << 3) | (t >> 5), (t & 31) << 3])
    return nkey_encode(prefix, seed), nkey_encode(bytes([t]), pub), key


def make_user_nkey(seed: bytes) -> tuple[str, str]:
    """(seed "SU...", public key "U...") of a user NKey."""
    return make_nkey(seed)[:2]


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def make_jwt(signer, iss: str, sub: str, name: str, nats: dict) -> str:
    """A NATS JWT (version 2 claims, "ed25519-nkey": the issuer's ed25519
    signature of "header.claims")."""
    claims = {"jti": "", "iat": int(time.time()), "iss": iss, "name": name, "sub": sub,
              "nats": {**nats, "version": 2}}
    claims["jti"] = base64.b32encode(
        hashlib.new("sha512_256", json.dumps(claims).encode()).digest()).decode().rstrip("=")
    head = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}." + b64url(signer.sign(f"{head}.{body}".encode()))


def make_operator_mode(d) -> list[str]:
    """nats-server configuration lines of a decentralised set-up (an operator,
    a system account, an account with JetStream, kept in memory) and
    `user.creds` of a user of that account, `stranger.creds` of a user of an
    account the server does not know, in `d`."""
    _, opub, okey = make_nkey(bytes(range(32)), "operator")
    _, apub, akey = make_nkey(bytes(range(2, 34)), "account")
    _, spub, _ = make_nkey(bytes(range(4, 36)), "account")
    _, xpub, xkey = make_nkey(bytes(range(6, 38)), "account")
    unlimited = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                 "wildcards": True, "conn": -1, "leaf": -1}
    op = make_jwt(okey, opub, opub, "ctflive test operator", {"type": "operator"})
    acc = make_jwt(okey, opub, apub, "traces", {
        "limits": {**unlimited, "mem_storage": -1, "disk_storage": -1, "streams": -1,
                   "consumer": -1}, "type": "account"})
    sys_acc = make_jwt(okey, opub, spub, "SYS", {"limits": unlimited, "type": "account"})
    for name, acc_pub, acc_key, seed in (("user", apub, akey, bytes(range(8, 40))),
                                         ("stranger", xpub, xkey, bytes(range(10, 42)))):
        useed, upub, _ = make_nkey(seed)
        user = make_jwt(acc_key, acc_pub, upub, name, {
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user"})
        f = d / f"{name}.creds"
        f.write_text(f"-----BEGIN NATS USER JWT-----\n{user}\n------END NATS USER JWT------\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{useed}\n------END USER NKEY SEED------\n")
        f.chmod(0o644)
    return [f'operator: "{op}"', "resolver: MEMORY", f"system_account: {spub}",
            f'resolver_preload: {{ {apub}: "{acc}", {spub}: "{sys_acc}" }}']


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost, a client one."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=ctflive test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=ctflive test {name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)
    # Another CA, which signed nothing of the server's.
    openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.pem", "-days", "2",
            "-subj", "/CN=ctflive other CA", cwd=d)
    # The relays may run as another user than the test.
    for f in d.iterdir():
        f.chmod(0o644)


def refused_relay(ws, name, *args) -> str:
    """Runs a ctflive-relayd that NATS refuses: it must exit at once, not
    wait; returns what it logged."""
    d = ws.mkdir(name)
    exe = h.build_dir() / "src" / "relayd" / "ctflive-relayd"
    r = subprocess.run([str(exe), "-o", str(d / "out"), "-C", f"tcp://{h.LOCALHOST}:0",
                        "-D", f"tcp://{h.LOCALHOST}:0", "-L", f"tcp://{h.LOCALHOST}:0",
                        "--port-file", str(d / "ports"), *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (args, r.stderr)
    assert "cannot connect to NATS at" in r.stderr, (args, r.stderr)
    return r.stderr


@pytest.mark.parametrize("mode", ["tls-user", "token", "nkey", "creds"])
def test_nats_auth(lttng, make_relay, ws, mode):
    """One nats-server per mode: mutual TLS with a user and password (given
    in the URL to the relay, by option to the reader), a token, an NKey, a
    user credentials file (JWT and NKey seed) in operator mode.
    Publish and read back with the right options (`view` prints every event,
    `ls` lists the session, an edge relay connects); with wrong or missing
    ones `view`, `ls` and the edge fail at once with the server's or the TLS
    handshake's reason, and a publishing relay says why it is not
    connected."""
    if not have_nats_support():
        pytest.skip("ctflive was built without libnats")
    srv = NatsServer(ws, f"nats-{mode}")
    d = srv.dir
    host = f"127.0.0.1:{srv.port}"
    extra: list[str] = []
    if mode == "tls-user":
        make_certs(d)
        extra = [f'tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server.key", '
                 f'ca_file: "{d}/ca.pem", verify: true, timeout: 5 }}',
                 'authorization { users = [ { user: "alice", password: "s3cret-pw" } ] }']
        tls = ["--nats-tls-ca", str(d / "ca.pem"), "--nats-tls-cert", str(d / "client.pem"),
               "--nats-tls-key", str(d / "client.key")]
        pub_url, pub_opts = f"nats://alice:s3cret-pw@{host}", tls
        read_opts = [*tls, "--nats-user", "alice", "--nats-password", "s3cret-pw"]
        wrong = {
            "wrong password": [*tls, "--nats-user", "alice", "--nats-password", "nope"],
            "no password": tls,
            "no client certificate": ["--nats-tls-ca", str(d / "ca.pem"), "--nats-user",
                                      "alice", "--nats-password", "s3cret-pw"],
            "untrusted server": ["--nats-tls-ca", str(d / "other.pem"), "--nats-tls-cert",
                                 str(d / "client.pem"), "--nats-tls-key",
                                 str(d / "client.key"), "--nats-user", "alice",
                                 "--nats-password", "s3cret-pw"],
        }
    elif mode == "token":
        extra = ['authorization { token: "t0ken-of-the-test" }']
        pub_url, pub_opts = f"nats://{host}", ["--nats-token", "t0ken-of-the-test"]
        read_opts = ["--nats-token", "t0ken-of-the-test"]
        wrong = {"wrong token": ["--nats-token", "not-it"], "no token": []}
    elif mode == "creds":
        extra = make_operator_mode(d)
        pub_url, pub_opts = f"nats://{host}", ["--nats-creds", str(d / "user.creds")]
        read_opts = pub_opts
        (d / "bad.creds").write_text("not a credentials file\n")
        wrong = {"user of an unknown account": ["--nats-creds", str(d / "stranger.creds")],
                 "no credentials": []}
    else:
        seed, pub = make_user_nkey(bytes(range(32)))
        other, _ = make_user_nkey(bytes(range(1, 33)))
        (d / "user.nk").write_text(seed + "\n")
        (d / "other.nk").write_text(other + "\n")
        (d / "bad.nk").write_text(seed[:-1] + ("A" if seed[-1] != "A" else "B") + "\n")
        for f in ("user.nk", "other.nk", "bad.nk"):
            (d / f).chmod(0o644)
        extra = [f'authorization {{ users = [ {{ nkey: "{pub}" }} ] }}']
        pub_url, pub_opts = f"nats://{host}", ["--nats-nkey", str(d / "user.nk")]
        read_opts = pub_opts
        wrong = {"other NKey": ["--nats-nkey", str(d / "other.nk")], "no NKey": []}
    srv.start(extra=extra)
    try:
        srv.wait_listening()
        url = f"nats://{host}"
        h.wait_for(lambda: ctflive("ls", url, "--timeout", "1000", *read_opts).returncode == 0,
                   30, what="JetStream ready")
        if mode == "nkey":
            # A seed whose checksum is wrong is refused before connecting.
            r = ctflive("ls", url, "--nats-nkey", str(d / "bad.nk"))
            assert r.returncode != 0 and "malformed user NKey seed" in r.stderr, r.stderr
        if mode == "creds":
            # A file that is no credentials file: said so, at once.
            r = ctflive("ls", url, "--nats-creds", str(d / "bad.creds"), timeout=30)
            assert r.returncode != 0 and "bad.creds" in r.stderr, r.stderr

        relay = make_relay("ctflive-relayd", extra=["--publish", pub_url, *pub_opts])
        run_session(lttng, relay, "na", EVENTS)
        got = ctflive("view", f"{url}/host/{HOST}/na", "--timeout", "20000", *read_opts)
        assert got.returncode == 0, got.stderr
        assert events_of(got.stdout) == EVENTS, got.stderr
        ls = ctflive("ls", url, *read_opts)
        assert ls.returncode == 0 and f"/host/{HOST}/na " in ls.stdout, ls.stderr
        assert "not connected" not in relay.log(), relay.log()[-2000:]

        # An edge relay with the same options connects (before it listens).
        edge = make_relay("ctflive-relayd", name="edge-ok", extra=["--from", url, *read_opts])
        assert edge.proc.poll() is None
        assert ctflive("ls", f"net://127.0.0.1:{edge.ports.live}").returncode == 0

        for i, (why, opts) in enumerate(wrong.items()):
            for cmd in (["view", f"{url}/host/{HOST}/na"], ["ls", url]):
                t0 = time.monotonic()
                r = ctflive(*cmd, *opts, timeout=30)
                took = time.monotonic() - t0
                assert r.returncode != 0, (why, cmd, r.stdout)
                assert "cannot connect to NATS at" in r.stderr, (why, r.stderr)
                if mode != "tls-user" or "password" in why:
                    assert "Authorization Violation" in r.stderr, (why, r.stderr)
                if why == "no client certificate":
                    assert "TLS client certificate" in r.stderr, (why, r.stderr)
                assert took < 15, (why, cmd, took)
                assert "s3cret-pw" not in r.stderr and "nope" not in r.stderr
            refused_relay(ws, f"edge-{i}", "--from", url, *opts)
            refused_relay(ws, f"pub-{i}", "--publish", url, *opts)

        if mode == "tls-user":
            # Credentials in the URL work, and no line ctflive prints repeats them.
            cred = f"nats://alice:s3cret-pw@{host}"
            ls = ctflive("ls", cred, *tls)
            assert ls.returncode == 0 and f"nats://{host}/host/{HOST}/na " in ls.stdout, ls.stderr
            assert "s3cret-pw" not in ls.stdout + ls.stderr, ls.stdout
            r = ctflive("view", f"{cred}/host/{HOST}/nosuch", "--timeout", "1000", *tls)
            assert r.returncode != 0 and "no session" in r.stderr, r.stderr
            assert "s3cret-pw" not in r.stdout + r.stderr and f"nats://{host}" in r.stderr, \
                r.stderr
            r = ctflive("view", f"{cred}/bad", *tls)
            assert r.returncode != 0 and "s3cret-pw" not in r.stderr, r.stderr
            r = ctflive("follow", f"{cred}/host/{HOST}/na")
            assert r.returncode == 2 and "s3cret-pw" not in r.stderr, r.stderr

        # A wrong password in the URL: refused, and not repeated in the log.
        if mode == "tls-user":
            err = refused_relay(ws, "pub-url", "--publish", f"nats://alice:nope@{host}",
                                *pub_opts)
            assert "Authorization Violation" in err and "nope" not in err, err
    finally:
        srv.stop()
