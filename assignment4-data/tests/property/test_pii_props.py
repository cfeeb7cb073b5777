from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_data.pii import (
    EMAIL_PATTERN,
    IPV4_PATTERN,
    PHONE_PATTERN,
    mask_emails,
    mask_ips,
    mask_phone_numbers,
    mask_pii,
)

noise = st.text(alphabet=st.sampled_from(list("abc xyz.@-()+1234567890,\n")), max_size=80)
octet = st.integers(0, 255).map(str)
ip = st.tuples(octet, octet, octet, octet).map(".".join)
email = st.tuples(
    st.from_regex(r"[a-z][a-z0-9._]{0,8}", fullmatch=True), st.from_regex(r"[a-z]{1,8}\.[a-z]{2,4}", fullmatch=True)
).map(lambda t: f"{t[0]}@{t[1]}")
phone = st.tuples(st.integers(200, 999), st.integers(100, 999), st.integers(0, 9999)).map(
    lambda t: f"({t[0]}) {t[1]}-{t[2]:04d}"
)


@settings(max_examples=200, deadline=None)
@given(noise)
def test_masking_leaves_no_match(text):
    for masker, pattern in (
        (mask_emails, EMAIL_PATTERN),
        (mask_ips, IPV4_PATTERN),
        (mask_phone_numbers, PHONE_PATTERN),
    ):
        masked, _ = masker(text)
        assert pattern.search(masked) is None


@settings(max_examples=200, deadline=None)
@given(noise, st.lists(st.one_of(ip, email, phone), min_size=1, max_size=4))
def test_planted_pii_is_always_masked(prefix, items):
    text = " " + " ; ".join(items) + " ; " + prefix.replace("@", " ")
    masked, counts = mask_pii(text)
    for item in items:
        assert item not in masked
    assert counts.total >= len(items)


@settings(max_examples=100, deadline=None)
@given(noise)
def test_masking_is_idempotent(text):
    once, _ = mask_pii(text)
    twice, counts = mask_pii(once)
    assert twice == once and counts.total == 0
