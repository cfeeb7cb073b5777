"""`cs336-basics train|generate|download|plot`: dry run, and error paths that print one line and exit 1."""

import json
import urllib.error

import pytest

from cs336_basics import download
from cs336_basics.cli import main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_dry_run_prints_the_resolved_config(capsys):
    rc = main(
        [
            "train",
            "--set",
            "optim.lr=0.5",
            "--set",
            "optim.min_lr=0.1",
            "--seed",
            "3",
            "--out-dir",
            "x y",
            "--device",
            "cpu",
            "--dry-run",
        ]
    )
    assert rc == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["optim"]["lr"] == 0.5 and cfg["run"]["seed"] == 3 and cfg["run"]["out_dir"] == "x y"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--config", "missing.toml"], "config file not found"),
        (["train", "--set", "model.widht=3", "--dry-run"], "unknown config key 'model.widht'"),
        (["train", "--set", "model.num_heads=5"], "must be divisible"),
        (["train", "--set", "data.train_path='nope.npy'", "--device", "cpu"], "token file not found: nope.npy"),
        (["train", "--resume", "no-such-run"], "no checkpoint"),
        (["generate", "--model", "no-such-dir", "--prompt", "hi"], "model directory not found"),
        (["plot", "no-such-run"], "no metrics.jsonl"),
    ],
)
def test_error_paths_exit_1_with_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert needle in _one_error_line(capsys)


def test_download_offline_error_names_the_url(capsys, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    assert main(["download", "tinystories", "--out-dir", str(tmp_path)]) == 1
    line = _one_error_line(capsys)
    assert "TinyStoriesV2-GPT4-train.txt" in line and "offline" in line
    assert not list(tmp_path.iterdir())  # no partial files left behind


def test_download_unreachable_host_fails_fast(tmp_path):
    with pytest.raises(download.DownloadError, match="cannot reach http://127.0.0.1:9/x.txt"):
        download.download_dataset("custom", tmp_path, urls=["http://127.0.0.1:9/x.txt"], timeout_s=5)
