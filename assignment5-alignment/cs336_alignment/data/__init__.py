"""Task data: the synthetic ArithWord generator and loaders for GSM8K / MATH-style JSONL files."""

from cs336_alignment.data.examples import MathExample, load_examples
from cs336_alignment.errors import AlignmentError

__all__ = ["MathExample", "load_examples", "load_task"]


def load_task(cfg) -> tuple[list[MathExample], list[MathExample]]:
    """(train, validation) examples for a `DataConfig`; either may be empty when its path is not set."""
    if cfg.format == "synthetic":
        from cs336_alignment.data.synthetic import ArithWordSpec, make_splits

        spec = ArithWordSpec(
            min_steps=cfg.synthetic_min_steps, max_steps=cfg.synthetic_max_steps, max_value=cfg.synthetic_max_value
        )
        train, val = make_splits(cfg.synthetic_num_train, cfg.num_val_examples, cfg.synthetic_seed, spec)
    else:
        keys = (cfg.question_key, cfg.answer_key, cfg.response_key)
        train = load_examples(cfg.train_path, cfg.format, *keys) if cfg.train_path else []
        val = load_examples(cfg.val_path, cfg.format, *keys) if cfg.val_path else []
    if cfg.num_train_examples:
        if cfg.num_train_examples > len(train):
            raise AlignmentError(f"data.num_train_examples = {cfg.num_train_examples} but only {len(train)} exist")
        train = train[: cfg.num_train_examples]
    return train, val[: cfg.num_val_examples] if cfg.num_val_examples else val
