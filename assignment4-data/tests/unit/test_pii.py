import pytest

from cs336_data.pii import EMAIL_MASK, IP_MASK, PHONE_MASK, PiiCounts, mask_pii
from tests.adapters import run_mask_emails, run_mask_ips, run_mask_phone_numbers


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("mail a.b@example.com now", f"mail {EMAIL_MASK} now", 1),
        ("x@y.co.uk, z@w.org.", f"{EMAIL_MASK}, {EMAIL_MASK}.", 2),
        ("name [at] host dot com", "name [at] host dot com", 0),
        (f"already {EMAIL_MASK}", f"already {EMAIL_MASK}", 0),
    ],
)
def test_emails(text, expected, count):
    assert run_mask_emails(text) == (expected, count)


@pytest.mark.parametrize(
    "number", ["5551234567", "(555)-123-4567", "(555) 123 4567", "555-123-4567", "555.123.4567", "+1 555 123 4567"]
)
def test_phone_formats_replaced_once_whole(number):
    assert run_mask_phone_numbers(f"call {number} today") == (f"call {PHONE_MASK} today", 1)


@pytest.mark.parametrize(
    "text", ["ISBN 978-0-306-40615-7", "order 123456789012", "$1,234.56", "2024-01-15 10:30", "v3.10.0.1", "12345"]
)
def test_phone_lookalikes_untouched(text):
    assert run_mask_phone_numbers(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("at 203.0.113.7.", f"at {IP_MASK}.", 1),
        ("1.2.3.4.5", "1.2.3.4.5", 0),
        ("256.1.1.1", "256.1.1.1", 0),
        ("v3.10.0.1", "v3.10.0.1", 0),
        ("0.0.0.0 and 255.255.255.255", f"{IP_MASK} and {IP_MASK}", 2),
    ],
)
def test_ips(text, expected, count):
    assert run_mask_ips(text) == (expected, count)


def test_mask_pii_counts_each_type():
    text = "a@b.com 10.0.0.1 (555) 123-4567 c@d.org"
    masked, counts = mask_pii(text)
    assert counts == PiiCounts(emails=2, phone_numbers=1, ips=1)
    assert counts.total == 4
    assert masked == f"{EMAIL_MASK} {IP_MASK} {PHONE_MASK} {EMAIL_MASK}"
