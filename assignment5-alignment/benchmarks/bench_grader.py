"""Grader throughput: r1_zero_reward_fn calls per second on three kinds of answers.

- integer: plain integer answers (the synthetic task, GSM8K), decided by the exact-rational fast path;
- latex-number: fractions/decimals in LaTeX, still decided without sympy;
- symbolic: answers that need sympy (run in the worker process, with its timeout).

    python benchmarks/bench_grader.py
"""

import time

from cs336_alignment.rewards import r1_zero_reward_fn

CASES = {
    "integer": [("1,024", "1024"), ("17", "18"), ("x = 42", "42"), ("\\boxed{7}", "7")],
    "latex-number": [("\\frac{3}{4}", "0.75"), ("-\\dfrac12", "-0.5"), ("2.50", "\\frac{5}{2}"), ("(1,2)", "(1, 2)")],
    "symbolic": [
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("\\frac{\\pi}{2}", "\\pi/2"),
        ("x^2+2x+1", "(x+1)^2"),
        ("3\\pi", "\\pi"),
    ],
}


def main() -> None:
    r1_zero_reward_fn("</think> <answer> \\sqrt{2} </answer>", "\\sqrt{2}+0")  # start the sympy worker
    print("| answers | calls | calls/s | ms/call |")
    print("|:---|---:|---:|---:|")
    for name, cases in CASES.items():
        reps = 500 if name != "symbolic" else 10
        t0 = time.perf_counter()
        for _ in range(reps):
            for answer, gold in cases:
                r1_zero_reward_fn(f"reasoning </think> <answer> {answer} </answer>", gold)
        dt = time.perf_counter() - t0
        calls = reps * len(cases)
        print(f"| {name} | {calls} | {calls / dt:.0f} | {1000 * dt / calls:.3f} |")


if __name__ == "__main__":
    main()
