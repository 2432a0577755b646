# Certificates for the TLS tests, made with openssl when first asked for (never committed): a server's
# self-signed EC certificate for "localhost" and 127.0.0.1 with its key, in PEM and DER, and an
# unrelated one that plays a wrong CA. CPython only: it runs openssl.
import atexit
import os
import shutil
import subprocess
import tempfile

OPENSSL = shutil.which("openssl")
_made = {}


# A self-signed P-256 certificate and key under folder/name.*: {"cert": path, "key": path, ...}.
def _make(folder, name, subject):
    base = os.path.join(folder, name)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", base + ".key.pem", "-out", base + ".cert.pem", "-days", "2", "-subj", "/CN=" + subject,
         "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % subject],
        check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", base + ".cert.pem", "-outform", "DER", "-out", base + ".cert.der"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", base + ".key.pem", "-outform", "DER", "-out", base + ".key.der"],
                   check=True, capture_output=True)
    return {kind: base + "." + kind.replace("_", ".") for kind in ("cert_pem", "key_pem", "cert_der", "key_der")}


# The test certificates (made once per process, removed at exit): {"server": {...}, "other": {...}}.
def certs():
    if not _made:
        folder = tempfile.mkdtemp(prefix="uasyncore-tls-")
        atexit.register(shutil.rmtree, folder, True)
        _made["server"] = _make(folder, "server", "localhost")
        _made["other"] = _make(folder, "other", "localhost")
    return _made
