"""The one place where an e-mail address or a display name is judged fit to be written.

Every address mailflow stores or writes into a header passes ``normalize``: inbound From,
Reply-To, Sender, To and Cc; a service desk's ``Requester:`` line; an engineer's ``Cc:`` command;
the configured people; the outbox's recipients. Display names pass ``clean_name``. So a value an
attacker controls (an RFC 2047 word that decodes to CR/LF inside an addr-spec, a bidi override in
a name) is refused or cleaned once, at the edge, and can never become a second header or a second
recipient of our mail.

What an address may be, once decoded:

- ``local@domain``; no control, format (bidi, zero-width) or space characters anywhere;
- the local part a dot-atom: ASCII ``atext`` or, for internationalised addresses (RFC 6531),
  any other printable character; no quoted local parts (legal, but unseen in real support mail
  and a classic way to smuggle ``@`` and ``;``), at most 64 octets;
- the domain a host name: letter-digit-hyphen labels, or Unicode labels that IDNA 2008 (the
  ``idna`` package, UTS 46 mapping) accepts; no address literals (``[192.0.2.1]``).

The stored form is canonical so that comparisons work however a client wrote it: NFC, lower
case, the domain as Unicode (what the requester wrote and can read). ``ascii_form`` gives the
A-label spelling an SMTP server without SMTPUTF8 accepts, when the local part allows one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import idna

from mailflow.errors import AddressError

# Bidi embeddings, overrides and isolates, and the marks: they reorder what a reader sees.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_BREAK_RUN = re.compile("[" + "".join(sorted(_BREAKS)) + "]+")
_SPECIALS = frozenset('()<>[]:;@\\,"')
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_NAME = 200


@dataclass(frozen=True)
class Address:
    """A display name and a canonical address (see ``normalize``)."""

    name: str
    email: str

    def __str__(self) -> str:
        if not self.name:
            return self.email
        name = self.name.replace("\\", "").replace('"', "")
        return f'"{name}" <{self.email}>'


def normalize(value: str) -> str:
    """The canonical form of an address; ``AddressError`` with the reason when it is unfit."""
    addr = unicodedata.normalize("NFC", value.strip())
    bad = next((ch for ch in addr if _unprintable(ch) or ch.isspace()), None)
    if bad is not None:
        raise AddressError(f"address {_show(addr)} contains the character U+{ord(bad):04X}")
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"address {_show(addr)} is not of the form local@domain")
    return f"{_local(local, addr)}@{_domain(domain, addr)}"


def normalize_local_only(value: str) -> str:
    """A domain-less system sender (``MAILER-DAEMON``), checked like a local part."""
    return _local(unicodedata.normalize("NFC", value.strip()), value)


def make(name: str, addr: str) -> Address:
    """An ``Address`` of a cleaned name and a normalized address (``AddressError``)."""
    return Address(clean_name(name), normalize(addr))


def clean_name(name: str) -> str:
    """A display name fit for one header line.

    Line breaks and tabs become spaces; control, format and bidi characters go, except the
    zero-width joiners that scripts and emoji need (they cannot break a header). Other spaces
    (the ideographic space of a Chinese name) stay as written.
    """
    text = "".join(
        ch for ch in name if ch in _BREAKS or not _unprintable(ch) or ch in "\u200c\u200d"
    )
    return _BREAK_RUN.sub(" ", text).strip()[:_MAX_NAME]


def ascii_form(addr: str) -> str | None:
    """The address with an A-label domain when the local part is ASCII; None when only
    SMTPUTF8 can carry it."""
    local, _, domain = addr.rpartition("@")
    if not local.isascii():
        return None
    if domain.isascii():
        return addr
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def _unprintable(ch: str) -> bool:
    # Categories C* (controls, formats, surrogates, private use, unassigned) and the
    # line/paragraph separators, which some clients and libraries treat as line ends.
    return unicodedata.category(ch)[0] == "C" or ch in _BIDI or ch in "\u2028\u2029\x85"


def _local(local: str, whole: str) -> str:
    if local.startswith('"'):
        raise AddressError(f"address {_show(whole)} has a quoted local part")
    if any(ch in _SPECIALS for ch in local):
        raise AddressError(f"address {_show(whole)} has a special character in its local part")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError(f"address {_show(whole)} has a misplaced dot in its local part")
    if len(local.encode("utf-8")) > 64:
        raise AddressError(f"address {_show(whole)} has a local part over 64 octets")
    return local.lower()


def _domain(domain: str, whole: str) -> str:
    domain = domain.lower().removesuffix(".")
    if domain.startswith("["):
        raise AddressError(f"address {_show(whole)} names an address literal, not a domain")
    if domain.isascii() and "xn--" not in domain:
        labels = domain.split(".")
        if len(domain) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
            raise AddressError(f"address {_show(whole)} has an invalid domain")
        return domain
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        unicode_domain = idna.decode(ascii_domain)
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"address {_show(whole)} has an invalid domain: {exc}") from None
    if not all(_LDH_LABEL.fullmatch(label) for label in ascii_domain.split(".")):
        raise AddressError(f"address {_show(whole)} has an invalid domain")
    return str(unicode_domain).lower()


def _show(value: str) -> str:
    """The value for an error message: escaped, so the message itself stays one line."""
    return ascii(value[:120]) if not value.isprintable() else repr(value[:120])
