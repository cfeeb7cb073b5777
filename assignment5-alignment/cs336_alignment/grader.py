"""Math answer grading: normalised string match, exact-rational fast path, then sympy symbolic equivalence.

Our own implementation of the grading rules the handout's r1_zero reward relies on (§3.3 of the spec):
- strings are normalised Hendrycks-style (spaces, `\\left`/`\\right`, `\\dfrac`, `$`, `\\%`, degrees, trailing
  `\\text{unit}`, thousands commas, a leading `x =`), then compared literally;
- plain numbers (integers, decimals, `a/b`, `\\frac{a}{b}`) are compared exactly as rationals, with no sympy;
- an integer gold answer needs an integer answer (`5.0` or `10/2` do not count as `5`);
- tuples and intervals are compared element-wise (bracket kinds must agree);
- anything else goes to sympy (`simplify(a - b) == 0`) in a worker process with a timeout, so a pathological
  expression can never hang a trainer. Timeouts are never signal-based, so grading is safe from threads and from
  inside pool workers. Bare words with units ("18 apples") are not stripped and do not match "18".

    python -c "from cs336_alignment.grader import grade; print(grade('\\\\frac{1}{2}', '0.5'))"
"""

import concurrent.futures as cf
import importlib.util
import multiprocessing
import re
import threading
from collections.abc import Callable
from fractions import Fraction

from cs336_alignment.errors import AlignmentError

SYMPY_TIMEOUT_S = 2.0
WORKER_STARTUP_TIMEOUT_S = 120.0
# Longer strings are almost never answers and are where sympy blows up; they only get the string comparison.
MAX_SYMPY_CHARS = 200

_UNIT_TEXT = re.compile(r"\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z\s\.]*\}\s*(?:\^\{?\d\}?)?$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_LHS = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_FRAC_SIMPLE = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$")
_SLASH_SIMPLE = re.compile(r"^([+-]?\d+)/([+-]?\d+)$")


def extract_last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`, `\\boxed N`) with balanced braces, or None."""
    boxed, fbox = text.rfind("\\boxed"), text.rfind("\\fbox")
    if max(boxed, fbox) < 0:
        return None
    rest = text[boxed + len("\\boxed") :] if boxed > fbox else text[fbox + len("\\fbox") :]
    if rest.startswith(" "):
        token = rest.strip().split("$")[0].split()[0] if rest.strip() else ""
        return token or None
    if not rest.startswith("{"):
        return None
    depth = 0
    for i, ch in enumerate(rest):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return rest[1:i]
    return None


def _strip_braced_command(s: str, command: str) -> str:
    """`\\text{abc}` -> `abc` for every occurrence of `command`."""
    while (i := s.find(command + "{")) >= 0:
        depth, j = 0, i + len(command)
        while j < len(s):
            depth += s[j] == "{"
            depth -= s[j] == "}"
            if depth == 0:
                break
            j += 1
        s = s[:i] + s[i + len(command) + 1 : j] + s[j + 1 :]
    return s


def _fix_fracs(s: str) -> str:
    """`\\frac12` -> `\\frac{1}{2}`, `\\frac1{2}` -> `\\frac{1}{2}` (single-character shorthand)."""
    return re.sub(
        r"\\frac(?!\{)(\w)(?:(\w)|\{)", lambda m: "\\frac{" + m[1] + "}" + ("{" + m[2] + "}" if m[2] else "{"), s
    )


def normalize_answer(answer: str) -> str:
    """Hendrycks-style canonical string form of a final answer (no semantics, only notation)."""
    s = str(answer).strip()
    s = s.replace("\n", "").rstrip(".").strip()
    s = s.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", "")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("dfrac", "frac").replace("tfrac", "frac")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("°", "")
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = _UNIT_TEXT.sub("", s).strip()
    s = _strip_braced_command(s, "\\text")
    s = _strip_braced_command(s, "\\mathrm")
    s = _strip_braced_command(s, "\\mbox")
    s = _LHS.sub("", s)
    s = _THOUSANDS.sub("", s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    if s.startswith("."):
        s = "0" + s
    s = re.sub(r"(?<![\d.])\.(\d)", r"0.\1", s)
    if re.fullmatch(r"[+-]?\d+\.0+", s):  # "5.00" and "5" are the same notation of the same number
        s = s.split(".")[0]
    return s


def as_rational(s: str) -> Fraction | None:
    """Exact value of a normalised plain number (`3`, `-0.25`, `7/2`, `\\frac{7}{2}`), else None."""
    if _NUMBER.match(s):
        return Fraction(s)
    if m := _FRAC_SIMPLE.match(s):
        sign = -1 if m[1] == "-" else 1
        return sign * Fraction(int(m[2]), int(m[3])) if int(m[3]) != 0 else None
    if m := _SLASH_SIMPLE.match(s):
        return Fraction(int(m[1]), int(m[2])) if int(m[2]) != 0 else None
    return None


def _split_tuple(s: str) -> tuple[str, list[str]] | None:
    """`(1,2)` -> ("()", ["1", "2"]); top-level commas only. Intervals keep their bracket kinds."""
    if len(s) < 2 or s[0] not in "([" or s[-1] not in ")]":
        return None
    parts, depth, current = [], 0, ""
    for ch in s[1:-1]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return (s[0] + s[-1], parts) if len(parts) > 1 else None


def _latex_to_sympy_text(s: str) -> str:
    """A small LaTeX -> sympy-syntax rewrite covering what answers use: fracs, roots, pi, products, powers."""
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\pi", "pi").replace("\\infty", "oo")
    for _ in range(10):  # nested fracs/roots, innermost first
        new = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
        new = re.sub(r"\\sqrt\[([^{}\[\]]*)\]\{([^{}]*)\}", r"((\2)**(1/(\1)))", new)
        new = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", new)
        new = re.sub(r"\\sqrt(\d)", r"sqrt(\1)", new)
        if new == s:
            break
        s = new
    return s.replace("{", "(").replace("}", ")").replace("^", "**")


def sympy_equal(a: str, b: str) -> bool:
    """Symbolic equivalence of two normalised answers (runs sympy in the calling process; no timeout)."""
    from sympy import nsimplify, simplify
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = (*standard_transformations, implicit_multiplication_application, convert_xor)
    try:
        ea = parse_expr(_latex_to_sympy_text(a), transformations=transformations, evaluate=True)
        eb = parse_expr(_latex_to_sympy_text(b), transformations=transformations, evaluate=True)
        if ea.is_number and eb.is_number:
            return bool(abs(complex(ea.evalf()) - complex(eb.evalf())) <= 1e-9 * max(1.0, abs(complex(eb.evalf()))))
        return bool(simplify(nsimplify(ea) - nsimplify(eb)) == 0)
    except Exception:  # noqa: BLE001 - boundary: any parse/simplify failure of model text means "not equal"
        return False


def _warm_up() -> bool:
    import sympy.parsing.sympy_parser  # noqa: F401

    return sympy_equal("1", "1")


class SympyWorker:
    """One long-lived worker process that runs `sympy_equal` with a per-call timeout.

    A call that times out kills and replaces the worker, so a hung simplification costs at most `timeout_s`.
    Process-based, so it works from any thread and inside other pool workers (no SIGALRM).
    """

    def __init__(self, timeout_s: float = SYMPY_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.num_timeouts = 0

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            # Process start-up and the sympy import take seconds on a busy machine: wait for them here so the
            # per-call timeout only measures the comparison itself.
            self._pool.submit(_warm_up).result(timeout=WORKER_STARTUP_TIMEOUT_S)
        return self._pool

    def call(self, fn: Callable[..., bool], *args: object) -> bool:
        """Run the picklable `fn(*args)` in the worker; False (and a fresh worker) when it exceeds the timeout."""
        with self._lock:
            future = self._get_pool().submit(fn, *args)
            try:
                return bool(future.result(timeout=self.timeout_s))
            except cf.TimeoutError:
                self.num_timeouts += 1
                self.close()
                return False

    def equal(self, a: str, b: str) -> bool:
        return self.call(sympy_equal, a, b)

    def close(self) -> None:
        if self._pool is not None:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.kill()  # a hung sympy call never returns; shutdown(wait=False) alone would leak it
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


_DEFAULT_WORKER: SympyWorker | None = None


def _default_worker() -> SympyWorker:
    global _DEFAULT_WORKER
    if _DEFAULT_WORKER is None:
        _DEFAULT_WORKER = SympyWorker()
    return _DEFAULT_WORKER


def _equal_normalized(answer: str, gold: str, use_sympy: bool, worker: SympyWorker | None) -> bool:
    if answer == gold:
        return True
    gold_q, answer_q = as_rational(gold), as_rational(answer)
    if gold_q is not None and gold_q.denominator == 1 and _NUMBER.match(gold) and "." not in gold:
        # Integer gold: only an integer written as an integer counts.
        return bool(re.fullmatch(r"[+-]?\d+", answer)) and answer_q == gold_q
    if gold_q is not None and answer_q is not None:
        return gold_q == answer_q
    gold_t, answer_t = _split_tuple(gold), _split_tuple(answer)
    if gold_t is not None or answer_t is not None:
        if gold_t is None or answer_t is None or gold_t[0] != answer_t[0] or len(gold_t[1]) != len(answer_t[1]):
            return False
        return all(_equal_normalized(a, g, use_sympy, worker) for a, g in zip(answer_t[1], gold_t[1]))
    if not use_sympy or max(len(answer), len(gold)) > MAX_SYMPY_CHARS or not answer:
        return False
    if worker is None:
        return sympy_equal(answer, gold)
    return worker.equal(answer, gold)


def math_verify_equal(answer: str, gold: str) -> bool:
    """Math-Verify's LaTeX equivalence (optional extra `math`); run it through a `SympyWorker` for the timeout."""
    from math_verify import parse, verify

    try:
        return bool(verify(parse(f"${gold}$"), parse(f"${answer}$")))
    except Exception:  # noqa: BLE001 - boundary: unparseable model text means "not equal"
        return False


def _require_math_verify() -> None:
    if importlib.util.find_spec("math_verify") is None:
        raise AlignmentError("grading with Math-Verify needs the optional extra: uv sync --extra math")


def grade(
    answer: str,
    ground_truth: str | int | float | list,
    use_sympy: bool = True,
    worker: SympyWorker | None = None,
    use_math_verify: bool = False,
) -> bool:
    """Is `answer` the same mathematical answer as `ground_truth` (a str, a number, or a list of acceptable ones)?

    Sympy runs in the shared `SympyWorker` (timeout) unless `worker` is given; pass `use_sympy=False` for the
    string/rational checks only. `use_math_verify` adds Math-Verify as a last resort (extra `math`).
    """
    if use_math_verify:
        _require_math_verify()
    if isinstance(ground_truth, list | tuple):
        return any(grade(answer, g, use_sympy, worker, use_math_verify) for g in ground_truth)
    gold = str(ground_truth)
    if "\\boxed" in gold:
        gold = extract_last_boxed(gold) or gold
    if "\\boxed" in answer:
        boxed = extract_last_boxed(answer)
        if boxed is None:
            return False
        answer = boxed
    norm_answer, norm_gold = normalize_answer(answer), normalize_answer(gold)
    if not norm_answer:
        return False
    worker = worker or (_default_worker() if use_sympy or use_math_verify else None)
    if _equal_normalized(norm_answer, norm_gold, use_sympy, worker):
        return True
    return use_math_verify and worker.call(math_verify_equal, answer, gold)
