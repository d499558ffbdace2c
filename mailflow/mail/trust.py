"""Authority: whether a mail from a configured staff or service-desk address really comes from
them. Only our own border's verdict counts (``auth_results`` says how it is read)."""

from __future__ import annotations

from mailflow.mail import auth_results
from mailflow.mail.parsing import InboundMail


def authenticated(mail: InboundMail, authserv_id: str) -> bool:
    """Whether our receiving border (``authserv_id``) saw an aligned DKIM, SPF or DMARC pass
    for the From domain."""
    if mail.sender is None or mail.sender_header != "from" or "@" not in mail.sender.email:
        return False
    domain = mail.sender.email.rsplit("@", 1)[1]
    results = auth_results.trusted_results(mail.auth_results, authserv_id)
    return bool(auth_results.aligned_pass(results, domain))


def why_untrusted(mail: InboundMail, authserv_id: str) -> str:
    """Why a mail from a staff or desk address carries no authority; empty when it does.

    Without ``authserv_id`` every mail from a configured address is believed (the README's
    threat model says what that leaves open).
    """
    if not authserv_id or authenticated(mail, authserv_id):
        return ""
    return (
        f"not verified by {authserv_id} (no aligned DKIM, SPF or DMARC pass for the From "
        "domain in our border's Authentication-Results)"
    )
