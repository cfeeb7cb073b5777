"""`cs336-basics download tinystories|owt`: fetch the handout's datasets with urllib (progress on stderr).

    uv run cs336-basics download tinystories --out-dir data/
    uv run cs336-basics download owt --out-dir data/

Offline (or when the host is unreachable) the command fails with one clear line naming the URL; files are written to
`<name>.part` and renamed only when complete, so an interrupted download never looks finished.
"""

import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cs336_basics.errors import BasicsError, DownloadError

logger = logging.getLogger(__name__)

_HF = "https://huggingface.co/datasets"
DATASETS: dict[str, list[str]] = {
    "tinystories": [
        f"{_HF}/roneneldan/TinyStories/resolve/main/TinyStoriesV2-GPT4-train.txt",
        f"{_HF}/roneneldan/TinyStories/resolve/main/TinyStoriesV2-GPT4-valid.txt",
    ],
    "owt": [
        f"{_HF}/stanford-cs336/owt-sample/resolve/main/owt_train.txt.gz",
        f"{_HF}/stanford-cs336/owt-sample/resolve/main/owt_valid.txt.gz",
    ],
}
_CHUNK = 1 << 20
TIMEOUT_S = 30.0


def fetch(url: str, dest: Path, *, timeout_s: float = TIMEOUT_S, show_progress: bool = True) -> Path:
    """Download `url` to `dest` (atomic rename); raise DownloadError with the URL and reason on any network failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _bar(dest.name, total, show_progress)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"download failed: {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url} ({reason}); are you offline? copy the files by hand instead") from exc
    os.replace(part, dest)
    return dest


def _bar(name: str, total: int | None, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="B", unit_scale=True, disable=not enabled, file=sys.stderr)


def download_dataset(name: str, out_dir: str | Path, *, urls: list[str] | None = None, timeout_s: float = TIMEOUT_S):
    """Fetch every file of a dataset into `out_dir`, skipping files already there; return their paths."""
    if name not in DATASETS and urls is None:
        raise BasicsError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    paths = []
    for url in urls or DATASETS[name]:
        dest = Path(out_dir) / url.rsplit("/", 1)[-1]
        if dest.is_file():
            logger.info("%s exists, skipping", dest)
        else:
            fetch(url, dest, timeout_s=timeout_s)
        paths.append(dest)
    return paths
