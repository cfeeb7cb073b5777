import json

from cs336_data.cli import main


def test_pii_command(tmp_path, capsys):
    doc = tmp_path / "d.txt"
    doc.write_text("mail a@b.com or 10.0.0.1\n")
    assert main(["pii", str(doc)]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["emails"] == 1 and row["ips"] == 1 and row["phone_numbers"] == 0


def test_gopher_command(tmp_path, capsys):
    doc = tmp_path / "d.txt"
    doc.write_text("too short\n")
    assert main(["gopher", str(doc)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["keep"] is False and "num_words" in row["reasons"]


def test_dedup_commands_keep_reports_out_of_output_dir(tmp_path):
    for name, text in {"a.txt": "x\ny\n", "b.txt": "x\nz\n"}.items():
        (tmp_path / name).write_text(text)
    inputs = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert main(["dedup-exact", "--out-dir", str(tmp_path / "e"), *inputs]) == 0
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["a.txt", "b.txt"]
    assert (tmp_path / "e" / "a.txt").read_text() == "y\n"
    assert main(["dedup-minhash", "--out-dir", str(tmp_path / "m"), *inputs]) == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["a.txt", "b.txt"]


def test_expected_failures_are_one_line_and_exit_1(tmp_path, capsys):
    assert main(["filter", "--out-dir", str(tmp_path), str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["filter", "--set", "run.num_workers=0", "--dry-run"]) == 1


def test_filter_dry_run_prints_config(capsys):
    assert main(["filter", "--dry-run", "--set", "dedup.ngrams=3", "x.wet.gz"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["dedup"]["ngrams"] == 3 and cfg["run"]["inputs"] == ["x.wet.gz"]


def test_sample_command_is_deterministic(tmp_path, capsys):
    import gzip

    (tmp_path / "final").mkdir()
    with gzip.open(tmp_path / "final" / "00000.jsonl.gz", "wt") as f:
        for i in range(10):
            f.write(json.dumps({"url": f"u{i}", "id": str(i), "source": "s", "text": f"text {i}", "scores": {}}) + "\n")
    assert main(["sample", str(tmp_path), "--n", "3", "--seed", "5", "--out", str(tmp_path / "a.md")]) == 0
    assert main(["sample", str(tmp_path), "--n", "3", "--seed", "5", "--out", str(tmp_path / "b.md")]) == 0
    a = (tmp_path / "a.md").read_text()
    assert a == (tmp_path / "b.md").read_text() and a.count("## ") == 3
    assert main(["sample", str(tmp_path / "nothing")]) == 1
