import pytest

from cs336_data.dedup.exact import exact_line_deduplication
from cs336_data.errors import InputFormatError
from tests.adapters import run_exact_line_deduplication


def write(tmp_path, files: dict[str, bytes]):
    paths = []
    for name, data in files.items():
        (tmp_path / "in").mkdir(exist_ok=True)
        path = tmp_path / "in" / name
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.mark.parametrize("num_shards", [0, 3])
def test_semantics(tmp_path, num_shards):
    paths = write(
        tmp_path,
        {
            "a.txt": b"Home\nunique a\nshared footer\n",
            "b.txt": b"Home\r\nunique b\r\nshared footer",
            "c.txt": b"only one line",
            "d.txt": b"only one line\n",
            "e.txt": b"all unique\nlines here\n",
        },
    )
    exact_line_deduplication(paths, tmp_path / "out", num_shards=num_shards)
    out = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert out == {
        "a.txt": b"unique a\n",
        "b.txt": b"unique b\r\n",  # CRLF survives; "Home" matched across terminators
        "c.txt": b"",
        "d.txt": b"",  # the last line without a newline hashes like the same line with one
        "e.txt": b"all unique\nlines here\n",
    }


def test_repeats_inside_one_file_count(tmp_path):
    paths = write(tmp_path, {"a.txt": b"x\ny\nx\n"})
    run_exact_line_deduplication(paths, tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"y\n"


def test_duplicate_basenames_rejected(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    (tmp_path / "1" / "a.txt").write_text("x")
    (tmp_path / "2" / "a.txt").write_text("y")
    with pytest.raises(InputFormatError, match="basename"):
        exact_line_deduplication([tmp_path / "1" / "a.txt", tmp_path / "2" / "a.txt"], tmp_path / "out")


@pytest.mark.needs_data
def test_course_fixture(shared_data, tmp_path):
    folder = shared_data / "web" / "documents_with_line_duplicates"
    inputs = sorted(folder.iterdir())
    run_exact_line_deduplication(inputs, tmp_path)
    all_lines = [line for p in inputs for line in p.read_text().splitlines()]
    for p in inputs:
        out_lines = (tmp_path / p.name).read_text().splitlines()
        assert all(all_lines.count(line) == 1 for line in out_lines)
        assert [line for line in p.read_text().splitlines() if all_lines.count(line) == 1] == out_lines
