"""AdamW against torch.optim.AdamW, its state round trip, the toy SGD and the cosine schedule."""

import io
import math

import pytest
import torch

from cs336_basics.errors import ConfigError
from cs336_basics.optimizer import SGD, AdamW, get_cosine_lr, lr_cosine_schedule
from tests import adapters


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x, y = torch.randn(32, 6, generator=g), torch.randn(32, 3, generator=g)
    return model, x, y


def _train(opt_factory, steps, seed=0, lr_schedule=None):
    model, x, y = _problem(seed)
    opt = opt_factory(model.parameters())
    for it in range(steps):
        if lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = lr_schedule(it)
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("foreach", [True, False])
def test_adamw_matches_torch_adamw_over_1000_steps(foreach):
    kw = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)  # the handout test settings
    ours = _train(lambda p: AdamW(p, **kw, foreach=foreach), 1000)
    ref = _train(lambda p: torch.optim.AdamW(p, **kw), 1000)
    assert (ours - ref).abs().max() <= 1e-4
    assert not torch.equal(ours, _train(lambda p: torch.optim.AdamW(p, **kw), 0))  # it moved


def test_adamw_foreach_equals_loop_and_follows_schedule():
    kw = dict(lr=1e-3, weight_decay=0.05)

    def sched(it):
        return get_cosine_lr(it, 1e-2, 1e-3, 5, 40)

    fast = _train(lambda p: AdamW(p, **kw, foreach=True), 50, lr_schedule=sched)
    slow = _train(lambda p: AdamW(p, **kw, foreach=False), 50, lr_schedule=sched)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-7)


def test_adamw_first_step_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.5, 0.25])
    AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5).step()
    g = torch.tensor([0.5, 0.25])
    m, v = 0.1 * g, 0.001 * g**2
    alpha_1 = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expected = (torch.tensor([1.0, -2.0]) - alpha_1 * m / (v.sqrt() + 1e-8)) * (1 - 0.1 * 0.5)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-6)


def test_adamw_skips_params_without_grad_and_reads_lr_each_step():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = AdamW([a, b], lr=0.1)
    a.grad = torch.ones(2)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and b not in opt.state
    opt.param_groups[0]["lr"] = 0.0
    before = a.detach().clone()
    opt.step()
    assert torch.equal(a.detach(), before)
    assert opt.state[a]["t"] == 2


def test_adamw_state_round_trips_with_weights_only():
    model, x, y = _problem()
    opt = AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    opt2 = AdamW(model.parameters(), lr=5.0)
    opt2.load_state_dict(loaded)
    assert opt2.param_groups == opt.param_groups
    for p in model.parameters():
        assert opt2.state[p]["t"] == 3
        assert torch.equal(opt2.state[p]["m"], opt.state[p]["m"])


def test_adamw_adapter_and_hyperparameter_names():
    cls = adapters.get_adamw_cls()
    opt = cls([torch.nn.Parameter(torch.ones(1))], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["betas"] == (0.9, 0.999)
    with pytest.raises(ConfigError, match="betas"):
        AdamW([torch.nn.Parameter(torch.ones(1))], betas=(1.0, 0.9))
    with pytest.raises(ConfigError, match="learning rate"):
        AdamW([torch.nn.Parameter(torch.ones(1))], lr=-1)


def test_adamw_closure_returns_loss():
    p = torch.nn.Parameter(torch.tensor([3.0]))
    opt = AdamW([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0


def test_toy_sgd_decays_learning_rate():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    opt = SGD([p], lr=1.0)
    for _ in range(3):
        p.grad = torch.tensor([1.0])
        opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([-(1 + 1 / math.sqrt(2) + 1 / math.sqrt(3))]))


def test_cosine_schedule_worked_example():
    lr = [adapters.run_get_lr_cosine_schedule(it, 1.0, 0.1, 10, 30) for it in (0, 5, 10, 20, 30, 31, 100)]
    torch.testing.assert_close(torch.tensor(lr), torch.tensor([0.0, 0.5, 1.0, 0.55, 0.1, 0.1, 0.1]))
    assert lr_cosine_schedule is get_cosine_lr


def test_cosine_schedule_guards():
    assert get_cosine_lr(0, 1.0, 0.1, 0, 10) == 1.0  # no warmup
    assert get_cosine_lr(5, 1.0, 0.1, 5, 5) == 1.0  # empty cosine phase
    assert get_cosine_lr(6, 1.0, 0.1, 5, 5) == 0.1
    with pytest.raises(ConfigError, match="warmup_iters"):
        get_cosine_lr(0, 1.0, 0.1, 10, 5)
