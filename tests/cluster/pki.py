"""Certificates and kubeconfigs for the test control plane, made fresh for every start.

One CA signs the API server's serving certificate and the client certificates of the admin
(group system:masters) and of each control-plane component (the identities that the API server's
bootstrap RBAC policy grants their permissions to). A separate key pair signs ServiceAccount tokens.
EC P-256 keys keep generation in milliseconds.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_VALIDITY = datetime.timedelta(days=30)
CLOCK_SKEW = datetime.timedelta(minutes=5)
CLUSTER_NAME = "ledgerline-test"

# Client identities: file stem -> (common name = user, organisations = groups).
CLIENTS = {
    "admin": ("ledgerline-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "kwok": ("kwok-controller", ("system:masters",)),
}


@dataclass(frozen=True)
class Pki:
    folder: Path

    def cert(self, stem: str) -> Path:
        return self.folder / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.folder / f"{stem}.key"

    @property
    def ca_cert(self) -> Path:
        return self.cert("ca")

    @property
    def sa_public_key(self) -> Path:
        return self.folder / "sa.pub"

    @property
    def sa_private_key(self) -> Path:
        return self.key("sa")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organisations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organisations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CERT_VALIDITY)
    )


def generate(folder: Path, *, dns_names: list[str], ips: list[str]) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)
    ca_key = _new_key()
    ca_name = _name(f"{CLUSTER_NAME}-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.key("ca"), ca_key)
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(stem: str, subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> None:
        key = _new_key()
        builder = _builder(subject, ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_key(pki.key(stem), key)
        pki.cert(stem).write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))

    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    issue("apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans)
    for stem, (user, groups) in CLIENTS.items():
        issue(stem, _name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH, [])

    sa_key = _new_key()
    _write_key(pki.sa_private_key, sa_key)
    pki.sa_public_key.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, user: str, credentials: dict[str, str]) -> Path:
    """A self-contained kubeconfig (JSON, which every YAML reader accepts)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def client_cert_credentials(pki: Pki, stem: str) -> dict[str, str]:
    return {"client-certificate-data": _b64(pki.cert(stem)), "client-key-data": _b64(pki.key(stem))}
