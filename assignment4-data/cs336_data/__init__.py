"""CS336 assignment 4: filtering and deduplicating web data.

Public API (imports are lazy, so `import cs336_data` stays light):
extraction `extract_text_from_html_bytes`, language ID `identify_language`, PII `mask_emails`, `mask_phone_numbers`,
`mask_ips`, `mask_pii`, harmful content `classify_nsfw`, `classify_toxic_speech`, Gopher `gopher_quality_filter`,
quality `classify_quality`, `quality_score`, dedup `exact_line_deduplication`, `minhash_deduplication`, pipeline
`run_filter`.
"""

import importlib

_EXPORTS = {
    "extract_text_from_html_bytes": "cs336_data.extract",
    "identify_language": "cs336_data.langid",
    "mask_emails": "cs336_data.pii",
    "mask_phone_numbers": "cs336_data.pii",
    "mask_ips": "cs336_data.pii",
    "mask_pii": "cs336_data.pii",
    "classify_nsfw": "cs336_data.harmful",
    "classify_toxic_speech": "cs336_data.harmful",
    "gopher_quality_filter": "cs336_data.gopher",
    "classify_quality": "cs336_data.quality.classifier",
    "quality_score": "cs336_data.quality.classifier",
    "exact_line_deduplication": "cs336_data.dedup.exact",
    "minhash_deduplication": "cs336_data.dedup.minhash",
    "run_filter": "cs336_data.pipeline.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cs336_data' has no attribute {name!r}")
