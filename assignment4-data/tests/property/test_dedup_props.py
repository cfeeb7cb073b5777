from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_data.dedup.exact import duplicate_line_keys, filter_lines

line = st.sampled_from([b"a\n", b"b\n", b"c\r\n", b"c\n", b"\n", b"d", b"eee\n", b"a"])
corpus = st.lists(st.lists(line, max_size=8), min_size=1, max_size=6)


def dedup(docs, **kw):
    dups = duplicate_line_keys((x for d in docs for x in d), **kw)
    return [filter_lines(d, dups, kw.get("keep_blank_lines", False)) for d in docs]


@settings(max_examples=200, deadline=None)
@given(corpus, st.booleans())
def test_output_lines_are_a_subset_in_order(docs, keep_blank):
    for before, after in zip(docs, dedup(docs, keep_blank_lines=keep_blank)):
        it = iter(before)
        assert all(any(x == y for y in it) for x in after)


@settings(max_examples=200, deadline=None)
@given(corpus)
def test_idempotent(docs):
    once = dedup(docs)
    assert dedup(once) == once


@settings(max_examples=100, deadline=None)
@given(corpus, st.integers(1, 5))
def test_sharded_counter_agrees_with_memory(docs, num_shards):
    assert dedup(docs) == dedup(docs, num_shards=num_shards)
