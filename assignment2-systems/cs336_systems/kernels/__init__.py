"""Triton kernels. Importing a submodule imports Triton; this package itself imports nothing heavy."""
