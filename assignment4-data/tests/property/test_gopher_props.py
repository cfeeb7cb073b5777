from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_data.gopher import GopherConfig, gopher_quality_filter

token = st.sampled_from(["the", "cat", "a", "extraordinarily", "123", "...", "…", "#", "x", "mat", "and", "of"])
doc = st.lists(st.lists(token, min_size=1, max_size=15).map(" ".join), min_size=1, max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(doc, st.integers(0, 30), st.floats(0.0, 0.3))
def test_stricter_config_keeps_a_subset(text, extra_words, ellipsis_cut):
    loose = GopherConfig(min_words=5)
    strict = GopherConfig(min_words=5 + extra_words, max_ellipsis_line_fraction=0.3 - ellipsis_cut)
    if gopher_quality_filter(text, strict):
        assert gopher_quality_filter(text, loose)


@settings(max_examples=200, deadline=None)
@given(doc)
def test_extended_keeps_a_subset_of_default(text):
    cfg = GopherConfig(min_words=5)
    extended = GopherConfig(min_words=5, extended=True)
    if gopher_quality_filter(text, extended):
        assert gopher_quality_filter(text, cfg)
