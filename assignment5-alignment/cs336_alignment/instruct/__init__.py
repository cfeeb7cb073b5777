"""Instruction tuning (supplement): the packed Alpaca-format SFT dataset and its batch iterator."""
