import urllib.error
import urllib.request

from cs336_data.cli import main


def test_offline_download_is_one_clear_error(monkeypatch, tmp_path, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["download-models", "--models", "lid", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot download lid") and "offline" in err
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
