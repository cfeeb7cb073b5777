"""TransformerBlock and TransformerLM: oracle outputs, state-dict keys, counts, ablations, aliases, file formats."""

import dataclasses
import json
import types
import warnings

import pytest
import torch

from cs336_basics.errors import BasicsError, ConfigError
from cs336_basics.model import BasicsTransformerLM, RotaryEmbedding, TransformerBlock, TransformerLM
from tests import adapters
from tests.oracle.reference import block as block_oracle
from tests.oracle.reference import random_lm_state
from tests.oracle.reference import transformer_lm as lm_oracle

V, CTX, D, L, H, DFF, THETA = 97, 16, 32, 2, 4, 48, 10000.0
SMALL = dict(vocab_size=V, context_length=CTX, d_model=D, num_layers=L, num_heads=H, d_ff=DFF)


def _block_state(sd, i=0):
    prefix = f"layers.{i}."
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}


def test_block_matches_oracle():
    sd = random_lm_state(V, D, 1, DFF)
    x = torch.randn(2, 10, D)
    got = adapters.run_transformer_block(D, H, DFF, CTX, THETA, _block_state(sd), x)
    torch.testing.assert_close(got, block_oracle(x, sd, "layers.0.", H, THETA), rtol=1e-5, atol=1e-5)


def test_lm_matches_oracle():
    sd = random_lm_state(V, D, L, DFF, seed=3)
    ids = torch.randint(0, V, (3, CTX))
    got = adapters.run_transformer_lm(V, CTX, D, L, H, DFF, THETA, sd, ids)
    torch.testing.assert_close(got, lm_oracle(ids, sd, L, H, THETA), rtol=1e-4, atol=1e-4)


def test_state_dict_keys_are_the_spec_list():
    model = TransformerLM(**SMALL)
    block_keys = [
        "attn.q_proj.weight",
        "attn.k_proj.weight",
        "attn.v_proj.weight",
        "attn.output_proj.weight",
        "ln1.weight",
        "ffn.w1.weight",
        "ffn.w2.weight",
        "ffn.w3.weight",
        "ln2.weight",
    ]
    expected = {"token_embeddings.weight", "ln_final.weight", "lm_head.weight"}
    expected |= {f"layers.{i}.{k}" for i in range(L) for k in block_keys}
    assert set(model.state_dict()) == expected
    assert model.state_dict()["layers.1.ffn.w2.weight"].shape == (D, DFF)


def test_tinystories_parameter_counts():
    model = TransformerLM(10_000, 256, 512, 4, 16, 1344, device="meta")
    assert model.get_num_params(non_embedding=False) == 22_696_448
    assert model.get_num_params() == 12_456_448
    assert model.get_num_params(non_embedding=False) - model.token_embeddings.weight.numel() == 17_576_448


def test_causality_of_the_full_model():
    model = TransformerLM(**SMALL)
    ids = torch.randint(0, V, (1, CTX))
    changed = ids.clone()
    changed[0, 9] = (changed[0, 9] + 1) % V
    a, b = model(ids), model(changed)
    torch.testing.assert_close(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_attention_backends_agree_in_the_full_model():
    ours = TransformerLM(**SMALL)
    fast = TransformerLM(**SMALL, attn_backend="torch")
    fast.load_state_dict(ours.state_dict())
    ids = torch.randint(0, V, (2, CTX))
    torch.testing.assert_close(fast(ids), ours(ids), rtol=1e-4, atol=1e-4)


def test_post_norm_matches_its_formula():
    torch.manual_seed(0)
    block = TransformerBlock(D, H, DFF, CTX, THETA, norm_position="post")
    x = torch.randn(2, 7, D)
    y = block.ln1(x + block.attn(x))
    torch.testing.assert_close(block(x), block.ln2(y + block.ffn(y)))


@pytest.mark.parametrize(
    ("switches", "checks"),
    [
        (dict(norm_type="none"), lambda m: not any("ln" in k for k in m.state_dict())),
        (dict(use_rope=False), lambda m: m.layers[0].attn.rope is None),
        (dict(ffn_type="silu", d_ff=4 * D), lambda m: "layers.0.ffn.w3.weight" not in m.state_dict()),
        (dict(tie_embeddings=True), lambda m: m.lm_head.weight is m.token_embeddings.weight),
        (dict(norm_position="post"), lambda m: m.layers[0].norm_position == "post"),
    ],
)
def test_ablations_build_train_and_count(switches, checks):
    from cs336_basics.accounting import count_parameters

    kwargs = {**SMALL, **switches}
    model = TransformerLM(**kwargs)
    assert checks(model)
    ids = torch.randint(0, V, (2, 8))
    logits = model(ids)
    assert logits.shape == (2, 8, V) and torch.isfinite(logits).all()
    logits.sum().backward()
    counts = count_parameters(model)
    assert counts.total == model.get_num_params(non_embedding=False)
    assert counts.without_embeddings == model.get_num_params()


def test_nope_model_is_position_blind_in_attention_but_still_causal():
    model = TransformerLM(**SMALL, use_rope=False)
    ids = torch.randint(0, V, (1, 6))
    changed = ids.clone()
    changed[0, 4] = (changed[0, 4] + 1) % V
    torch.testing.assert_close(model(ids)[:, :4], model(changed)[:, :4])


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ConfigError, match="divisible"):
        TransformerLM(**{**SMALL, "num_heads": 5})
    with pytest.raises(ConfigError, match="norm_type"):
        TransformerLM(**SMALL, norm_type="layernorm")
    with pytest.raises(ConfigError, match="ffn_type"):
        TransformerLM(**SMALL, ffn_type="gelu")
    with pytest.raises(ConfigError, match="context length"):
        TransformerLM(**SMALL)(torch.zeros(1, CTX + 1, dtype=torch.long))


def test_config_dict_and_construction_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = TransformerLM(**SMALL, tie_embeddings=True)
    assert model.config["vocab_size"] == V and model.config["tie_embeddings"] is True
    assert TransformerLM(**model.config).config == model.config


def test_basics_alias_accepts_config_objects_and_staff_switches():
    @dataclasses.dataclass
    class Config:
        vocab_size: int = V
        context_length: int = CTX
        d_model: int = D
        num_layers: int = L
        num_heads: int = H
        d_ff: int = DFF
        rope_theta: float = 500.0
        remove_rope: bool = True

    model = BasicsTransformerLM(Config())
    assert model.config["rope_theta"] == 500.0 and model.config["use_rope"] is False
    assert BasicsTransformerLM(**SMALL, use_post_norm=True).config["norm_position"] == "post"
    assert BasicsTransformerLM(SMALL).config["d_ff"] == DFF
    assert BasicsTransformerLM(types.SimpleNamespace(**SMALL, weight_tying=True)).config["tie_embeddings"] is True
    with pytest.raises(ConfigError, match="lacks"):
        BasicsTransformerLM({"vocab_size": 3})


def test_staff_block_construction():
    block = TransformerBlock(d_model=D, num_heads=H, d_ff=DFF, positional_encoder=RotaryEmbedding(CTX, D // H))
    assert block(torch.randn(1, 5, D)).shape == (1, 5, D)


@pytest.mark.parametrize("tie", [False, True])
def test_save_pretrained_round_trip(tmp_path, tie):
    model = TransformerLM(**SMALL, tie_embeddings=tie, ffn_type="silu")
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == model.config
    loaded = TransformerLM.from_pretrained(tmp_path)
    ids = torch.randint(0, V, (2, 8))
    torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)
    assert (loaded.lm_head.weight is loaded.token_embeddings.weight) == tie
    assert TransformerLM.from_pretrained(tmp_path, attn_backend="torch").config["attn_backend"] == "torch"


def test_from_pretrained_reads_the_a4_layout_and_strips_compile_prefix(tmp_path):
    model = BasicsTransformerLM(**SMALL)
    (tmp_path / "model_config.json").write_text(json.dumps({k: v for k, v in SMALL.items()} | {"rope_theta": 1e4}))
    torch.save({f"_orig_mod.{k}": v for k, v in model.state_dict().items()}, tmp_path / "model.pt")
    loaded = BasicsTransformerLM.from_pretrained(tmp_path)
    ids = torch.randint(0, V, (1, 8))
    torch.testing.assert_close(loaded(ids), model(ids))


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(BasicsError, match="holds no model"):
        TransformerLM.from_pretrained(tmp_path)
    TransformerLM(**SMALL).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(BasicsError, match="could not read weights"):
        TransformerLM.from_pretrained(tmp_path)
    TransformerLM(**SMALL).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"d_model": 64}))
    with pytest.raises(BasicsError, match="do not match"):
        TransformerLM.from_pretrained(tmp_path)


def test_loss_matches_cross_entropy_of_logits():
    model = TransformerLM(**SMALL)
    ids = torch.randint(0, V, (2, 9))
    logits = model(ids[:, :-1])
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
    torch.testing.assert_close(model.loss(ids[:, :-1], ids[:, 1:]), expected)


def test_bf16_autocast_forward_backward():
    model = TransformerLM(**SMALL, attn_backend="torch")
    ids = torch.randint(0, V, (2, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.loss(ids, ids)
    loss.backward()
    assert torch.isfinite(loss) and model.lm_head.weight.grad is not None


@pytest.mark.parametrize("tie", [False, True])
def test_vocab_padding_computes_the_same_function(tmp_path, tie):
    padded = TransformerLM(**SMALL, vocab_pad_multiple=64, tie_embeddings=tie)
    assert padded.lm_head.weight.shape == (128, D) and padded.lm_head.weight[V:].abs().sum() == 0
    plain = TransformerLM(**SMALL, tie_embeddings=tie)
    state = padded.state_dict()
    plain.load_state_dict({k: v[:V] if v.shape[0] == 128 else v for k, v in state.items()})
    ids = torch.randint(0, V, (2, 9))
    logits = padded(ids)
    assert logits.shape == (2, 9, V)
    torch.testing.assert_close(logits, plain(ids))
    padded.loss(ids, ids).backward()
    assert padded.lm_head.weight.grad[V:].abs().sum() == 0
    padded.save_pretrained(tmp_path)
    torch.testing.assert_close(TransformerLM.from_pretrained(tmp_path)(ids), logits)
    assert len(padded.generate([1, 2], 5)) == 5


@pytest.mark.slow  # ~20 s on a loaded 2-core machine, mostly TorchDynamo's first-use setup
def test_model_and_loss_trace_as_one_graph():
    """torch.compile sees the whole forward + loss without graph breaks (a break costs fusion and launches).

    The "ours" backend is the one at risk: it calls the module-global SDPA, which must stay traceable."""
    backend = "ours"
    import torch._dynamo

    from cs336_basics.nn_utils import cross_entropy

    model = TransformerLM(**SMALL, attn_backend=backend)
    ids = torch.randint(0, V, (2, 8))
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda x: cross_entropy(model(x), x))(ids)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
