"""`cs336-basics train|generate|download|plot`: dry run, and error paths that print one line and exit 1."""

import json
import urllib.error
from pathlib import Path

import pytest

from cs336_basics import download
from cs336_basics.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


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
            'x "y',
            "--device",
            "cpu",
            "--dry-run",
        ]
    )
    assert rc == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["optim"]["lr"] == 0.5 and cfg["run"]["seed"] == 3 and cfg["run"]["out_dir"] == 'x "y'


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--config", "missing.toml"], "config file not found"),
        (["train", "--set", "model.widht=3", "--dry-run"], "unknown config key 'model.widht'"),
        (["train", "--set", "model.num_heads=5"], "must be divisible"),
        (["train", "--set", "data.train_path='nope.npy'", "--device", "cpu"], "token file not found: nope.npy"),
        (["train", "--resume", "no-such-run"], "no checkpoint"),
        (["train", "--resume", "r", "--config", "c.toml"], "--resume uses the checkpoint's own config"),
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


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    argv = [
        "train",
        "--config",
        str(CONFIGS / "debug_cpu.toml"),
        "--out-dir",
        str(out),
        "--set",
        "run.num_steps=20",
        "--set",
        "run.progress=false",
        "--set",
        "corpus.num_docs=150",
        "--set",
        "run.sample_max_new_tokens=4",
    ]
    assert main(argv) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def test_generate_batch_of_prompts_greedy_is_deterministic(trained_run, capsys):
    argv = [
        "generate",
        "--model",
        str(trained_run),
        "--prompt",
        "Once upon a time",
        "--prompt",
        "Tom",
        "--max-new-tokens",
        "12",
        "--temperature",
        "0",
        "--device",
        "cpu",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("Once upon a time") and "\nTom" in first
    assert main(argv) == 0
    assert capsys.readouterr().out == first


def test_plot_regenerates_the_pngs(trained_run, capsys):
    for png in (trained_run / "plots").glob("*.png"):
        png.unlink()
    assert main(["plot", str(trained_run)]) == 0
    assert sorted(p.name for p in (trained_run / "plots").iterdir()) == ["loss_vs_step.png", "loss_vs_time.png"]


def test_resume_of_a_finished_run_changes_nothing_and_accepts_overrides(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--set", "run.progress=false"]) == 0
    assert "step: 20" in capsys.readouterr().out
    assert main(["train", "--resume", str(trained_run), "--set", "model.d_model=128"]) == 1
    assert "does not match" in _one_error_line(capsys)
