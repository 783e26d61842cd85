"""TLS for the simulator: a test CA made at start, a server certificate, and the
merchant's API client certificate (``apiclient_cert.pem`` / ``apiclient_key.pem``).

WeChat's refund API (``/secapi/...``) demands the merchant's client certificate (mutual
TLS, wechatpay-v2.md section 1). Its front end asks for one on every connection but lets
the handshake finish without one, then answers HTTP 400 "No required SSL certificate was
sent" (issue 13, item 4): so the server asks with ``CERT_OPTIONAL`` and the app checks.
A certificate from another CA fails the handshake here, where WeChat answers 400 "The
SSL certificate error": Python's ssl module cannot accept and then refuse it.

Needs the ``cryptography`` package (the ``crypto`` extra); imported only when used.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, Final

from ..errors import WxPayError

__all__ = [
    "CLIENT_CERT_KEY",
    "NO_CERT_PAGE",
    "TLS_KEY",
    "TLSFiles",
    "make_tls_files",
    "remove",
    "server_context",
]

#: environ key: True when the connection is TLS; then ``CLIENT_CERT_KEY`` says whether
#: the client presented a certificate the test CA signed.
TLS_KEY: Final = "wxpay_mw.simulator.tls"
CLIENT_CERT_KEY: Final = "wxpay_mw.simulator.client_cert"

#: The page WeChat's nginx front answers a refund without a client certificate.
NO_CERT_PAGE: Final = (
    b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n"
    b"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
    b"<center>No required SSL certificate was sent</center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of one simulator's test PKI, in a private temporary directory."""

    directory: str
    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:  # pragma: no cover - depends on the install
        raise WxPayError(
            "the simulator's TLS mode needs the 'cryptography' package: "
            "pip install 'wxpay-mw[crypto]'"
        ) from None
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def make_tls_files(mch_id: str, host: str) -> TLSFiles:
    """A fresh CA, a server certificate for ``host`` and a client certificate for
    ``mch_id`` (WeChat's API certificates name the merchant id), written as PEM files."""
    x509, hashes, serialization, ec, eku, name_oid = _crypto()
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> Any:
        return x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, common)])

    def issue(subject: str, key: Any, issuer: Any, signer: Any, extensions: list[Any]) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue(
        "wxpay-mw simulator test CA",
        ca_key,
        name("wxpay-mw simulator test CA"),
        ca_key,
        [(x509.BasicConstraints(ca=True, path_length=0), True)],
    )
    # The names a client may use: the host asked for (base_url shows the address bound,
    # e.g. 127.0.0.1 for "localhost"), and the loopback names.
    names: list[Any] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        alt: Any = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    if alt not in names:
        names.append(alt)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue(
        host,
        server_key,
        ca.subject,
        ca_key,
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.ExtendedKeyUsage([eku.SERVER_AUTH]), False),
        ],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue(
        mch_id, client_key, ca.subject, ca_key, [(x509.ExtendedKeyUsage([eku.CLIENT_AUTH]), False)]
    )
    directory = tempfile.mkdtemp(prefix="wxpay-sim-tls-")

    def write(filename: str, data: bytes) -> str:
        path = os.path.join(directory, filename)
        # Private keys: readable by this user only, like any key file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return path

    def cert(c: Any) -> bytes:
        return bytes(c.public_bytes(serialization.Encoding.PEM))

    def key(k: Any) -> bytes:
        return bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    return TLSFiles(
        directory=directory,
        ca_cert=write("ca.pem", cert(ca)),
        server_cert=write("server.pem", cert(server)),
        server_key=write("server.key", key(server_key)),
        client_cert=write("apiclient_cert.pem", cert(client)),
        client_key=write("apiclient_key.pem", key(client_key)),
    )


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """The server's context: its certificate, and client certificates asked for, optional."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.server_cert, files.server_key)
    context.load_verify_locations(files.ca_cert)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def remove(files: TLSFiles) -> None:
    """Delete the PEM files and their directory."""
    # shutil would also delete whatever else someone put there; only ours go.
    for path in (
        files.ca_cert,
        files.server_cert,
        files.server_key,
        files.client_cert,
        files.client_key,
    ):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    with contextlib.suppress(OSError):
        os.rmdir(files.directory)
