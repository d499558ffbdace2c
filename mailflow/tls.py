"""TLS for both edges (IMAP mailbox, SMTP server): verifying contexts, readable errors."""

from __future__ import annotations

import ssl
from pathlib import Path


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying TLS context; ``ca_file`` adds a private CA."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def tls_problem(exc: ssl.SSLError) -> str:
    """A readable reason for a TLS failure, with the usual fix for a private CA."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message} (for a private CA set ca_file)"
    return str(exc.reason or exc)
