"""Masking personally identifiable information: emails, US phone numbers, IPv4 addresses (handout §2.4).

    cs336-data pii doc.txt

Each masker is `(text) -> (masked_text, num_replacements)` built on `re.subn`. `mask_pii` applies them in the order
emails -> IPs -> phones (an IP's digits could otherwise be read as a phone number) and returns per-type counts.
Known limits (measured on the synthetic crawl, see README): obfuscated emails ("name [at] host") and non-US phone
formats are missed; a four-part version number written without a prefix ("3.10.0.1") is masked as an IP.
"""

import re
from dataclasses import dataclass

EMAIL_MASK = "|||EMAIL_ADDRESS|||"
PHONE_MASK = "|||PHONE_NUMBER|||"
IP_MASK = "|||IP_ADDRESS|||"

# local@label.label.tld; the TLD is letters only, so a trailing "." or "," is never swallowed.
EMAIL_PATTERN = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])"
)
# Optional +1/1 prefix, area code bare or parenthesised, separators space/-/./none, 3+3+4 digits; (?<!\w)/(?!\w)
# guards keep digits inside longer numbers (ISBNs, order numbers) untouched.
PHONE_PATTERN = re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)[\s.-]?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}(?!\w)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# No word character or dot before (spares "v3.10.0.1" and the tail of "1.2.3.4.5"), no ".digit" after.
IPV4_PATTERN = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")


@dataclass(frozen=True)
class PiiCounts:
    emails: int = 0
    phone_numbers: int = 0
    ips: int = 0

    @property
    def total(self) -> int:
        return self.emails + self.phone_numbers + self.ips


def mask_emails(text: str) -> tuple[str, int]:
    """Replace every email address with |||EMAIL_ADDRESS|||."""
    return EMAIL_PATTERN.subn(EMAIL_MASK, text)


def mask_phone_numbers(text: str) -> tuple[str, int]:
    """Replace every US-style phone number (whole span, parentheses included) with |||PHONE_NUMBER|||."""
    return PHONE_PATTERN.subn(PHONE_MASK, text)


def mask_ips(text: str) -> tuple[str, int]:
    """Replace every IPv4 address with |||IP_ADDRESS|||, leaving surrounding punctuation."""
    return IPV4_PATTERN.subn(IP_MASK, text)


def mask_pii(text: str) -> tuple[str, PiiCounts]:
    """All three maskers in pipeline order (emails -> IPs -> phones) with per-type counts."""
    text, num_emails = mask_emails(text)
    text, num_ips = mask_ips(text)
    text, num_phones = mask_phone_numbers(text)
    return text, PiiCounts(emails=num_emails, phone_numbers=num_phones, ips=num_ips)
