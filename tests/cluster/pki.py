"""Certificates for the test cluster, made with openssl: one CA, the API server's serving certificate (valid for
every address pods and the node use to reach it) and the client certificate it presents to kubelet."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(dir: Path, ips: list[str], dns: list[str]) -> Pki:
    """CA, `apiserver` (serving: the given IPs and DNS names) and `apiserver-kubelet-client` (system:masters)."""
    dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(dir)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=videojob-test-ca",
        "-keyout",
        str(pki.ca_key),
        "-out",
        str(pki.ca),
    )
    san = ",".join([*(f"IP:{ip}" for ip in ips), *(f"DNS:{d}" for d in dns)])
    _issue(pki, "apiserver", "/CN=kube-apiserver", f"subjectAltName={san}\nextendedKeyUsage=serverAuth")
    _issue(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=clientAuth",
    )
    return pki


def _issue(pki: Pki, name: str, subject: str, extensions: str) -> None:
    csr, ext = pki.dir / f"{name}.csr", pki.dir / f"{name}.ext"
    ext.write_text(extensions + "\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(pki.key(name)), "-out", str(csr))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki.ca),
        "-CAkey",
        str(pki.ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(pki.cert(name)),
    )
