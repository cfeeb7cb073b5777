"""Supplement evaluations: response parsers for MMLU and GSM8K."""
