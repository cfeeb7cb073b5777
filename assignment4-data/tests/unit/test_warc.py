from collections import Counter

import pytest

from cs336_data.errors import InputFormatError
from cs336_data.warc import iter_html_responses, iter_wet_documents
from tests.conftest import write_warc

HTML = b"<html><body><p>hello</p></body></html>"


@pytest.mark.parametrize("gzip", [True, False])
def test_html_responses_skip_other_records(tmp_path, gzip):
    path = tmp_path / ("a.warc.gz" if gzip else "a.warc")
    write_warc(
        path,
        [
            ("http://a/1", "response", HTML, "text/html; charset=ISO-8859-1"),
            ("http://a/2", "response", b"\x89PNG\r\n", "image/png"),
            ("http://a/3", "request", b"", None),
            ("http://a/4", "response", "<p>Grüße</p>".encode("utf-16"), "text/html"),
            ("http://a/5", "response", b"", "text/html"),
            ("http://a/6", "response", b"<html>\x00\x01\x02\x03 binary</html>", "text/html"),
        ],
        gzip=gzip,
    )
    errors = Counter()
    records = list(iter_html_responses(path, errors))
    assert [r.url for r in records] == ["http://a/1", "http://a/4"]
    assert records[0].http_charset == "ISO-8859-1"
    assert records[0].body == HTML
    assert errors == Counter({"errors/empty": 1, "errors/binary": 1})


def test_wet_documents_and_bad_records(tmp_path):
    path = tmp_path / "a.warc.wet.gz"
    write_warc(
        path,
        [
            ("http://a/1", "conversion", "first doc ünïcode".encode(), None),
            ("http://a/2", "conversion", b"", None),
            ("http://a/3", "conversion", b"\x00\x01binary", None),
            ("http://a/4", "conversion", "caf\u00e9".encode("latin-1"), None),
            ("http://a/5", "conversion", b"second doc", None),
        ],
    )
    errors = Counter()
    docs = list(iter_wet_documents(path, errors))
    assert [d.text for d in docs] == ["first doc ünïcode", "second doc"]
    assert docs[0].cc_lang_hint == "eng"
    assert errors == Counter({"errors/empty": 1, "errors/binary": 1, "errors/undecodable": 1})


def test_truncated_gzip_keeps_earlier_records(tmp_path):
    path = tmp_path / "a.warc.wet.gz"
    write_warc(path, [(f"http://a/{i}", "conversion", f"document number {i} ".encode() * 50, None) for i in range(20)])
    data = path.read_bytes()
    cut = tmp_path / "cut.warc.wet.gz"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    errors = Counter()
    docs = list(iter_wet_documents(cut, errors))
    assert 5 <= len(docs) < 20
    assert errors["errors/corrupt_stream"] == 1
    assert [d.url for d in docs[:5]] == [f"http://a/{i}" for i in range(5)]


def test_garbage_file_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "junk.warc.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    errors = Counter()
    assert list(iter_wet_documents(path, errors)) == []
    assert errors["errors/corrupt_stream"] == 1


def test_missing_file_raises(tmp_path):
    with pytest.raises(InputFormatError):
        list(iter_wet_documents(tmp_path / "nope.wet.gz"))
