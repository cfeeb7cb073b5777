"""The background dispatcher loop with a real-time simulated backend: running rows expose growing curves."""

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cs336_scaling.api import TrainingConfig
from cs336_scaling.backends.simulated import SimulatedBackend, chunk_seconds
from cs336_scaling.backends.world import World
from cs336_scaling.server.dispatch import Dispatcher
from tests.conftest import Api, make_cfg


def test_background_dispatch_with_time_scale(store) -> None:
    cfg = TrainingConfig.model_validate(make_cfg())
    per_chunk = chunk_seconds(World(), cfg)[0]
    backend = SimulatedBackend(time_scale=0.25 / per_chunk)  # 0.25 real seconds per chunk
    api = Api(store, backend=backend)
    api.dispatcher = Dispatcher(store, backend, max_workers=1, interval_s=0.02)
    api.dispatcher.start()
    try:
        exp_id = api.submit(make_cfg()).json()["experiment_id"]
        seen_running, partial, prefix = False, 0, []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st_ = api.req("GET", f"/experiment/{exp_id}").json()["status"]
            if st_["status_type"] == "running":
                seen_running = True
                if len(st_["val_losses"]) > partial:
                    partial, prefix = len(st_["val_losses"]), st_["val_losses"]
                assert st_["run_id"].startswith("local-") and "dispatched_at" in st_
            if st_["status_type"] == "completed":
                break
            time.sleep(0.03)
        assert st_["status_type"] == "completed" and seen_running and 0 < partial < 8
        assert st_["val_losses"][:partial] == prefix  # the running curve is a prefix of the final one
    finally:
        api.dispatcher.stop()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = list(make_cfg()) + ["type", "peak_value", "hidden_size"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bodies_never_500(api: Api, data: st.DataObject) -> None:
    body = make_cfg()
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(FIELDS))
        body[key] = data.draw(json_values)
    if data.draw(st.booleans()):
        arch = dict(body["architecture_config"]) if isinstance(body.get("architecture_config"), dict) else {}
        arch[data.draw(st.sampled_from(["hidden_size", "head_dim", "dtype", "rope_theta"]))] = data.draw(json_values)
        body["architecture_config"] = arch
    raw = json.dumps(body, allow_nan=True).encode()
    for path in ("/submit", "/final_submission"):
        payload = (
            raw if path == "/submit" else json.dumps({"training_config": body, "predicted_final_loss": 3.0}).encode()
        )
        r = api.req("POST", path, content=payload, headers={"Content-Type": "application/json"})
        assert r.status_code in (200, 400, 409, 422), (path, r.status_code, r.text)
