# Shortcuts for the commands documented in README.md.
.PHONY: install test check format submission

install:
	uv sync --all-packages

test:
	uv run python tools/test_all.py

check:
	uv run ruff check .
	uv run ruff format --check .

format:
	uv run ruff format .
	uv run ruff check --fix .

# make submission A=assignment1-basics
submission:
	uv run python tools/make_submission.py $(A)
