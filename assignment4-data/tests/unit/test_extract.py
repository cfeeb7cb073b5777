import pytest
from resiliparse.extract.html2text import extract_plain_text

from cs336_data.extract import decode_html_bytes, extract_text_from_html_bytes, sniff_meta_charset
from tests.adapters import run_extract_text_from_html_bytes

PAGE = (
    "<html><head>{meta}<title>T</title></head>"
    "<body><p>Caf\u00e9 na\u00efve \u00fcber \u2014 d\u00e9j\u00e0 vu</p></body></html>"
)


@pytest.mark.parametrize("codec", ["utf-8", "cp1252", "utf-16", "utf-16-le", "utf-8-sig"])
@pytest.mark.parametrize("declare", [True, False])
def test_decodes_common_encodings(codec, declare):
    html = PAGE.format(meta=f'<meta charset="{codec}">' if declare else "")
    data = html.encode(codec, errors="xmlcharrefreplace")
    assert "Caf\u00e9 na\u00efve \u00fcber" in extract_text_from_html_bytes(data)


def test_shift_jis_with_declared_charset():
    html = '<html><head><meta charset="shift_jis"></head><body><p>日本語のテキストです。</p></body></html>'
    assert "日本語のテキストです。" in extract_text_from_html_bytes(html.encode("shift_jis"))


def test_unknown_codec_names_never_crash():
    data = b'<meta charset="x-no-such-codec"><p>\xe9t\xe9 \xff\xfe</p>'
    assert "t" in decode_html_bytes(data, http_charset="also-not-a-codec")


def test_utf8_is_tried_before_detection():
    # uchardet calls short pure-ASCII/UTF-8 pages cp1252; UTF-8 must win.
    assert decode_html_bytes("naïve".encode()) == "naïve"


def test_output_is_exactly_resiliparse_default():
    html = "<html><body><h1>Title</h1>\n<p>One   two</p><ul><li>a</li><li>b</li></ul><script>x=1</script></body></html>"
    assert run_extract_text_from_html_bytes(html.encode()) == extract_plain_text(html)


def test_empty_input_gives_empty_string():
    assert extract_text_from_html_bytes(b"") == ""
    assert extract_text_from_html_bytes(b"   \n") == ""


def test_meta_charset_sniffing():
    assert sniff_meta_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">') == "Shift_JIS"
    assert sniff_meta_charset(b"<p>no meta</p>") is None


@pytest.mark.needs_data
def test_moby_matches_resiliparse(shared_data):
    data = (shared_data / "web" / "moby.html").read_bytes()
    text = run_extract_text_from_html_bytes(data)
    assert text == extract_plain_text(data.decode("utf-8"))
    assert "Moby" in text
