"""Grader invariants over random numbers: notation changes never change the verdict, value changes always do."""

from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cs336_alignment.grader import grade
from cs336_alignment.rewards import r1_zero_reward_fn

ints = st.integers(-(10**9), 10**9)


@settings(max_examples=200, deadline=None)
@given(n=ints, m=ints)
def test_integer_notations(n, m):
    assert grade(f"{n:,}", str(n), use_sympy=False)
    assert grade(f"\\boxed{{{n}}}", str(n), use_sympy=False)
    assert grade(f"{n}.00", str(n), use_sympy=False)
    assert grade(str(m), str(n), use_sympy=False) == (m == n)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(-999, 999), b=st.integers(2, 999), k=st.integers(1, 20))
def test_fraction_notations(a, b, k):
    q = Fraction(a, b)
    assume(q.denominator != 1)
    gold = f"{q.numerator}/{q.denominator}"
    assert grade(f"\\frac{{{a * k}}}{{{b * k}}}", gold, use_sympy=False)
    assert grade(f"\\dfrac{{{q.numerator}}}{{{q.denominator}}}", gold, use_sympy=False)
    assert not grade(f"{q.numerator + 1}/{q.denominator}", gold, use_sympy=False)


@settings(max_examples=100, deadline=None)
@given(n=ints, noise=st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=40))
def test_last_answer_wins_and_format_is_literal(n, noise):
    good = f"{noise} </think> <answer> {n + 1} </answer> <answer> {n} </answer>"
    assert r1_zero_reward_fn(good, str(n)) == {"format_reward": 1.0, "answer_reward": 1.0, "reward": 1.0}
    assert r1_zero_reward_fn(good.replace("</think> <answer>", "</think>  <answer>"), str(n))["format_reward"] == 0.0
