"""Budget arithmetic under random operation sequences equals an independent Python model of the course's rule."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_scaling.server.store import DuplicateExperimentError, OverBudgetError, Store

TOTAL = 1000.0

ops = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.floats(1, 400), st.integers(0, 5)),
        st.tuples(st.just("start"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("complete"), st.integers(0, 20), st.floats(0, 600)),
        st.tuples(st.just("fail"), st.integers(0, 20), st.floats(0, 600)),
    ),
    max_size=25,
)


def charge(state: str, max_rt: float, used: float | None) -> float:
    if state in ("completed", "failed"):
        return min(max(1.0, used or 0.0), max_rt)
    return max_rt


@settings(max_examples=40, deadline=None)
@given(ops)
def test_budget_matches_model(sequence: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "b.db"))
        store.add_user("u", "k")
        model: dict[int, list] = {}  # id -> [state, max_rt, used]
        hashes: set[str] = set()
        ids: list[int] = []
        for op, a, b in sequence:
            if op == "submit":
                used = sum(charge(*v) for v in model.values())
                uid = f"cfg{b}-{a:.3f}"
                edge = abs(a - (TOTAL - used)) < 1e-6  # summation order may differ by an ulp right at the edge
                try:
                    exp_id, after = store.submit("u", uid, {}, a, TOTAL)
                except OverBudgetError:
                    assert a > TOTAL - used or edge  # budget is checked first
                    continue
                except DuplicateExperimentError:
                    assert uid in hashes and (a <= TOTAL - used or edge)
                    continue
                assert (a <= TOTAL - used or edge) and uid not in hashes
                assert abs(after - (used + a)) < 1e-6
                hashes.add(uid)
                model[exp_id] = ["queued", a, None]
                ids.append(exp_id)
            elif ids:
                exp_id = ids[a % len(ids)]
                state = model[exp_id][0]
                if op == "start" and state == "queued":
                    store.mark_running(exp_id, "r")
                    model[exp_id][0] = "running"
                elif op in ("complete", "fail") and state == "running":
                    if op == "complete":
                        store.finish_completed(exp_id, b, [3.0])
                    else:
                        store.finish_failed(exp_id, b, {"reason": "unexpected", "failure": "x"})
                    model[exp_id][0] = "completed" if op == "complete" else "failed"
                    model[exp_id][2] = b
            expected = sum(charge(*v) for v in model.values())
            assert abs(store.used_seconds("u") - expected) < 1e-6
            assert store.used_seconds("u") <= TOTAL + 1e-9
        store.close()
