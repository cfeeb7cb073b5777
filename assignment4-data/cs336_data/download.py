"""`cs336-data download-models`: fetch lid.176.bin and Dolma's Jigsaw NSFW/toxicity models into the asset folder.

Needs internet access; offline it fails with one clear line (the packaged lid.176.ftz and the `offline-harmful`
extra keep everything working without these files).
"""

import shutil
import urllib.error
import urllib.request
from pathlib import Path

from cs336_data.assets import ASSETS, assets_dir
from cs336_data.errors import DownloadError

TIMEOUT_S = 30


def download_models(names: list[str], out_dir: str | None = None) -> list[Path]:
    folder = Path(out_dir) if out_dir else assets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        spec = ASSETS[name]
        if not spec.url:
            raise DownloadError(f"{name} has no download: it is trained with `cs336-data train-quality`")
        target = folder / spec.file_names[0]
        tmp = target.with_suffix(target.suffix + ".part")
        try:
            with urllib.request.urlopen(spec.url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise DownloadError(f"cannot download {name} from {spec.url} ({exc}); are you offline?") from exc
        tmp.rename(target)
        written.append(target)
    return written
