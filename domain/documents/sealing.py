"""Sealing a final PDF with a PAdES signature, and checking one that comes back.

The seal is a PAdES (ETSI.CAdES.detached) certification signature by the deployment's certificate
(``SIGNING_CERT_FILE`` / ``SIGNING_KEY_FILE``), made with pyHanko, with a time stamp from
``TSA_URL`` when one is configured. In demo and test mode without a configured certificate a
self-signed one ("Buurtgezinnen platform (demo)") is made on first use under var/<env>/signing/ and
kept, so documents sealed before a restart still verify after it.

``verify_pdf`` answers the verify page's question about an uploaded file: is there a signature by
our certificate, and is it intact — the signed digest matches, the signature is cryptographically
valid and covers the whole file (so a changed byte anywhere, or bytes appended, count as altered).
"""

from __future__ import annotations

import asyncio
import binascii
import fcntl
import hashlib
import io
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from config.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

SEAL_FIELD = "Verzegeling"
DEMO_SUBJECT = "Buurtgezinnen platform (demo)"
DEMO_VALIDITY_DAYS = 20 * 365
TSA_TIMEOUT_SECONDS = 10
# What a signer certificate must allow: either usage is fine for a seal.
KEY_USAGE = {"digital_signature", "non_repudiation"}


class SealingError(Exception):
    """The PDF could not be sealed (unreadable PDF, unusable key); trying again will not help."""


class TimestampUnavailable(Exception):
    """The time-stamp authority could not be reached or answered nonsense: try again later."""


@dataclass(frozen=True)
class SigningMaterial:
    certificate: asn1_x509.Certificate
    chain: tuple[asn1_x509.Certificate, ...]
    signer: signers.SimpleSigner

    @property
    def fingerprint(self) -> str:
        return self.certificate.sha256.hex()


@dataclass(frozen=True)
class Verification:
    """What an uploaded PDF turned out to be."""

    sha256: str
    signed: bool  # it carries at least one PDF signature (anyone's)
    ours: bool  # one of them is by this platform's certificate (or its traces are, in a broken file)
    intact: bool  # that signature is valid, its digest matches, and it covers the whole file
    signed_at: datetime | None = None  # the time stamp's time, else the signing time the seal states
    problem: str | None = None  # why it is not intact, for the logs

    @property
    def verdict(self) -> str:
        """``intact``, ``veranderd`` (a seal of ours, but the file changed) or ``geen`` (no seal of ours)."""
        if self.ours and self.intact:
            return "intact"
        return "veranderd" if self.ours else "geen"


@dataclass(frozen=True)
class EmbeddedFile:
    """A file carried inside the sealed PDF (e.g. the exact PDF the parties signed), covered by the seal."""

    name: str
    data: bytes
    mime_type: str = "application/pdf"
    description: str | None = None


# --- the certificate ----------------------------------------------------------------------------------

def signing_material(settings: Settings) -> SigningMaterial:
    """The key and certificate that seal; the demo pair is made here on first use."""
    if settings.signing_cert_file is None or settings.signing_key_file is None:
        raise SealingError("no signing certificate configured (SIGNING_CERT_FILE, SIGNING_KEY_FILE)")
    if settings.signing_self_signed:
        ensure_self_signed(Path(settings.signing_cert_file), Path(settings.signing_key_file))
    cert_path, key_path = Path(settings.signing_cert_file), Path(settings.signing_key_file)
    stamp = (_mtime(cert_path), _mtime(key_path))
    return _load_material(str(cert_path), str(key_path), settings.signing_key_password, stamp)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=4)
def _load_material(cert_file: str, key_file: str, password: str | None, _stamp: tuple[float, float]) -> SigningMaterial:
    # Cached per file version (the stamp): one parse per process, a replaced certificate is seen.
    try:
        pem = Path(cert_file).read_bytes()
        certs = ([asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                  for c in x509.load_pem_x509_certificates(pem)] if b"-----BEGIN" in pem
                 else [asn1_x509.Certificate.load(pem)])
    except (OSError, ValueError) as error:
        raise SealingError(f"signing certificate {cert_file!r} cannot be read: {error}") from error
    certificate, *chain = certs
    signer = signers.SimpleSigner.load(key_file, cert_file, key_passphrase=password.encode() if password else None)
    if signer is None:
        raise SealingError(f"signing key {key_file!r} cannot be read (wrong SIGNING_KEY_PASSWORD?)")
    return SigningMaterial(certificate, tuple(chain), signer)


def ensure_self_signed(cert_path: Path, key_path: Path) -> None:
    """Make the demo certificate and key if they are not there yet; safe with several processes."""
    if cert_path.exists() and key_path.exists():
        return
    cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (cert_path.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be making it right now
        if cert_path.exists() and key_path.exists():
            return
        key_pem, cert_pem = generate_self_signed(DEMO_SUBJECT)
        _write_atomically(key_path, key_pem, 0o600)
        _write_atomically(cert_path, cert_pem, 0o644)
        log.info("self-signed signing certificate made", extra={"path": str(cert_path)})


def generate_self_signed(common_name: str, *, days: int = DEMO_VALIDITY_DAYS) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a fresh EC P-256 key with a self-signed certificate fit for sealing."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stichting Buurtgezinnen"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
    ])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


# --- sealing ------------------------------------------------------------------------------------------

def seal_pdf(pdf: bytes, *, settings: Settings, reason: str, location: str,
             embedded: tuple[EmbeddedFile, ...] = ()) -> bytes:
    """``pdf`` with a PAdES certification signature of the platform added (an incremental update),
    and ``embedded`` files attached in the same, sealed revision.

    Raises TimestampUnavailable when a TSA is configured but cannot be reached (try again later),
    SealingError when the PDF or the key is unusable.
    """
    material = signing_material(settings)
    metadata = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    timestamper = HTTPTimeStamper(settings.tsa_url, timeout=TSA_TIMEOUT_SECONDS) if settings.tsa_url else None
    output = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        for item in embedded:
            data = embed.EmbeddedFileObject.from_file_data(writer, item.data, mime_type=item.mime_type)
            embed.embed_file(writer, embed.FileSpec(file_spec_string=item.name, file_name=item.name,
                                                    embedded_data=data, description=item.description))
        pdf_signer = signers.PdfSigner(metadata, signer=material.signer, timestamper=timestamper)
        _outside_event_loop(lambda: pdf_signer.sign_pdf(writer, output=output))
    except TimestampRequestError as error:
        raise TimestampUnavailable(f"time-stamp authority {settings.tsa_url} not reachable: {_cause(error)}") from error
    except SigningError as error:
        if _caused_by(error, TimestampRequestError):
            raise TimestampUnavailable(f"time-stamp authority {settings.tsa_url}: {_cause(error)}") from error
        raise SealingError(f"sealing failed: {error}") from error
    except (PdfError, ValueError) as error:
        raise SealingError(f"the PDF cannot be sealed: {error}") from error
    return output.getvalue()


def _outside_event_loop(work: Callable[[], T]) -> T:
    """pyHanko's synchronous API runs its own event loop (asyncio.run), which cannot start in a thread
    that already runs one (an async server, Playwright's sync API in tests): then it gets a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _cause(error: BaseException) -> str:
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    return f"{type(root).__name__}: {root}"


# --- verifying ----------------------------------------------------------------------------------------

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_pdf(pdf: bytes, *, settings: Settings) -> Verification:
    """Check ``pdf`` against the platform's certificate. Never raises for bad input."""
    digest = sha256_hex(pdf)
    material = signing_material(settings)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as error:
        # A damaged file that still carries our certificate's bytes was sealed by us and then changed.
        ours = _carries_certificate(pdf, material.certificate)
        return Verification(digest, signed=ours, ours=ours, intact=False,
                            problem=f"unreadable PDF: {type(error).__name__}: {error}")
    if not signatures:
        ours = _carries_certificate(pdf, material.certificate)
        return Verification(digest, signed=ours, ours=ours, intact=False, problem=None if not ours else "no signature")
    context = ValidationContext(trust_roots=[material.certificate, *material.chain], allow_fetching=False)
    problems = []
    for signature in signatures:
        try:
            if signature.signer_cert.sha256 != material.certificate.sha256:
                continue
        except Exception as error:
            problems.append(f"{type(error).__name__}: {error}")
            continue
        try:
            status = _outside_event_loop(partial(validate_pdf_signature, signature, context, skip_diff=True))
        except Exception as error:
            return Verification(digest, signed=True, ours=True, intact=False,
                                problem=f"validation failed: {type(error).__name__}: {error}")
        intact = bool(status.intact and status.valid and status.coverage == SignatureCoverageLevel.ENTIRE_FILE)
        signed_at = status.timestamp_validity.timestamp if status.timestamp_validity else status.signer_reported_dt
        problem = None if intact else (f"intact={status.intact} valid={status.valid} "
                                       f"coverage={status.coverage.name if status.coverage else None}")
        return Verification(digest, signed=True, ours=True, intact=intact, signed_at=signed_at, problem=problem)
    ours = _carries_certificate(pdf, material.certificate)
    return Verification(digest, signed=True, ours=ours, intact=False,
                        problem="; ".join(problems) or ("our certificate, not in a signature" if ours else None))


def _carries_certificate(pdf: bytes, certificate: asn1_x509.Certificate) -> bool:
    """Whether our certificate's DER appears in the file, raw or as the hex of a /Contents string."""
    der = certificate.dump()
    if der in pdf:
        return True
    hexed = binascii.hexlify(der)
    return hexed in pdf or hexed.upper() in pdf
