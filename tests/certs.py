"""Test certificates made with ``cryptography``: no openssl command needed.

:class:`Certificates` writes a CA, a server certificate for 127.0.0.1 signed
by it, a client certificate and a second, unrelated CA as PEM files;
:func:`self_signed` makes one self-signed certificate for 127.0.0.1 and
localhost that is its own trust anchor.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    """PEM files in one directory: a CA, a server certificate for 127.0.0.1, a client one.

    ``other_ca`` is a second CA that signed nothing here: a client that trusts
    only it must refuse the server.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    @classmethod
    def make(cls, directory: Path) -> Certificates:
        ca_key, ca_cert = _authority("Herald test CA")
        _, other_cert = _authority("Some other CA")
        server_key, server_cert = _leaf(
            ca_key, ca_cert, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, server=True
        )
        client_key, client_cert = _leaf(
            ca_key, ca_cert, "herald-client", ExtendedKeyUsageOID.CLIENT_AUTH, server=False
        )
        files = {
            "ca": _pem(ca_cert),
            "server_cert": _pem(server_cert),
            "server_key": _key_pem(server_key),
            "client_cert": _pem(client_cert),
            "client_key": _key_pem(client_key),
            "other_ca": _pem(other_cert),
        }
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, data in files.items():
            path = directory / f"{name}.pem"
            path.write_bytes(data)
            paths[name] = path
        return cls(**paths)

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """The front's context; with ``require_client_cert``, clients must show one of the CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.load_verify_locations(cafile=self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def self_signed(common: str = "localhost") -> tuple[bytes, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost and its key, both PEM.

    It is its own CA (a client trusts it by loading it as the CA file).
    """
    key, cert = _authority(
        common,
        alternative_names=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
        ],
    )
    return _pem(cert), _key_pem(key)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


def _authority(
    common: str, alternative_names: list[x509.GeneralName] | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    return key, _validity(builder).sign(key, hashes.SHA256())


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common: str,
    usage: x509.ObjectIdentifier,
    *,
    server: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(common))]),
            critical=False,
        )
    return key, _validity(builder).sign(ca_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
