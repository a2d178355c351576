"""The compiled CPU float32 kernel (worker/native.py, worker/csrc/): it builds here, one step of it
is the autograd gradient step (and a wrong step fails that check), it trains as the PyTorch passes
do to float rounding (divergence included), and a kernel that
cannot build leaves training on the PyTorch passes."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from worker import native
from worker.resnet import (
    ResNetConfig,
    ResNetEnsemble,
    draw_units,
    half_mse,
    init_units,
    learning_rate,
    make_problem,
    readout,
    residual_multiplier,
)
from worker.steps import NativeSteps, TorchSteps, steps_for
from worker.train import Member, train_ensemble
from worker.working import Working

F32, F64 = torch.float32, torch.float64

# (D, L, M, N): the grid's vector-wide shapes and odd ones (the kernel's leftover columns and rows)
SHAPES = [(16, 4, 64, 10), (5, 3, 7, 3), (64, 2, 48, 17), (8, 3, 33, 1)]


@pytest.fixture
def kernel() -> object:
    k = native.kernel()
    assert k is not None, "the compiled kernel must build on this machine (a C++ compiler is installed)"
    return k


def _native_step(cfg: ResNetConfig, N: int, alphas: list[float], seeds: list[int], eta: float,
                 rate_factor: float = 1.0) -> tuple[Working, torch.Tensor, torch.Tensor]:
    """One step of the kernel from float32 units; the step's units and the float32 initial ones."""
    kern = native.kernel()
    assert kern is not None
    problem = make_problem(1, N, 4, 3, cfg.D, dtype=F32)
    U0, V0 = init_units(cfg, seeds, dtype=F32)  # every member's own units
    drawn_U, drawn_V, rows = draw_units(cfg, seeds, dtype=F32)  # the distinct seeds' draws: the kernel's start
    s_list = [residual_multiplier(a, cfg) for a in alphas]
    lrs = [learning_rate(eta, x, cfg, a) for x, a in zip(s_list, alphas, strict=True)]
    rates = torch.tensor([[rate_factor * lr / cfg.D for lr in lrs],
                          [lr * x * x for lr, x in zip(lrs, s_list, strict=True)]])
    work = Working.start(cfg, drawn_U, drawn_V, rows, torch.tensor(s_list), rates, N, kern)
    engine = NativeSteps(cfg, problem, kern)
    engine.forward(work)
    _mse, bad = engine.step(work, 0, None)
    assert not bool(bad.any())
    return work, U0, V0


def _autograd_step(cfg: ResNetConfig, N: int, alphas: list[float], U0: torch.Tensor, V0: torch.Tensor,
                   eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The same step in float64 under autograd, as folded units (Uh, sV)."""
    problem = make_problem(1, N, 4, 3, cfg.D, dtype=F64)
    s = torch.tensor([residual_multiplier(a, cfg) for a in alphas], dtype=F64)
    model = ResNetEnsemble(cfg, U0.double(), V0.double(), s)
    half_mse(readout(model(problem.h0), problem.W_U), problem.Y).sum().backward()
    assert model.U.grad is not None and model.V.grad is not None
    lr = torch.tensor([learning_rate(eta, float(x), cfg, a) for x, a in zip(s, alphas, strict=True)],
                      dtype=F64)[None, :, None, None]
    U1, V1 = U0.double() - lr * model.U.grad, V0.double() - lr * model.V.grad
    return U1 / math.sqrt(cfg.D), V1 * s[None, :, None, None]


def _assert_step_matches(work: Working, expected_Uh: torch.Tensor, expected_sV: torch.Tensor,
                         U0: torch.Tensor, V0: torch.Tensor, cfg: ResNetConfig, s: torch.Tensor) -> None:
    """The kernel's step equals the autograd one to float32 rounding, measured against the step's size."""
    Uh0, sV0 = U0.double() / math.sqrt(cfg.D), V0.double() * s[None, :, None, None]
    for got, want, start in ((work.Uh, expected_Uh, Uh0), (work.sV, expected_sV, sV0)):
        moved = (want - start).abs().max().item()
        assert moved > 0
        err = (got.double() - want).abs().max().item()
        assert err <= 2e-3 * moved + 1e-6 * start.abs().max().item(), (err, moved)


@pytest.mark.parametrize("activation", ["tanh", "linear"])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_kernel_step_is_the_autograd_step(kernel: object, shape: tuple[int, int, int, int],
                                              activation: str) -> None:
    D, L, M, N = shape
    cfg = ResNetConfig(D=D, L=L, M=M, activation=activation)  # type: ignore[arg-type]
    alphas, seeds, eta = [0.5, 2.0, 8.0, 1.0], [3, 4, 3, 5], 0.5  # seed 3 twice: one draw, read twice
    work, U0, V0 = _native_step(cfg, N, alphas, seeds, eta)
    Uh, sV = _autograd_step(cfg, N, alphas, U0, V0, eta)
    s = torch.tensor([residual_multiplier(a, cfg) for a in alphas], dtype=F64)
    _assert_step_matches(work, Uh, sV, U0, V0, cfg, s)


def test_a_wrong_step_fails_the_autograd_check(kernel: object) -> None:
    """The check above is not blind: the same step with U's rate doubled fails it."""
    cfg = ResNetConfig(D=16, L=4, M=64)
    alphas, seeds, eta = [0.5, 2.0], [3, 4], 0.5
    work, U0, V0 = _native_step(cfg, 10, alphas, seeds, eta, rate_factor=2.0)
    Uh, sV = _autograd_step(cfg, 10, alphas, U0, V0, eta)
    s = torch.tensor([residual_multiplier(a, cfg) for a in alphas], dtype=F64)
    with pytest.raises(AssertionError):
        _assert_step_matches(work, Uh, sV, U0, V0, cfg, s)


@pytest.fixture
def torch_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    yield


def _train(cfg: ResNetConfig, members: list[Member], eta: float, steps: int, dtype: torch.dtype = F32) -> list:
    problem = make_problem(0, 10, 5, 5, cfg.D, dtype=dtype)
    return train_ensemble(cfg, problem, members, eta, steps)


def _max_rel(xs: list[float], ref: list[float]) -> float:
    return max((abs(x - r) / abs(r) for x, r in zip(xs, ref, strict=True) if math.isfinite(r)), default=math.nan)


@pytest.mark.parametrize("activation", ["tanh", "linear"])
@pytest.mark.parametrize("shape", [(16, 16, 16), (16, 8, 64), (7, 5, 9)])
def test_the_kernel_trains_as_the_pytorch_passes(kernel: object, monkeypatch: pytest.MonkeyPatch,
                                                 shape: tuple[int, int, int], activation: str) -> None:
    """Loss curves and diagnostics of the kernel are float64's to float rounding, as the PyTorch
    passes' are; alpha 1e-3 at eta 200 diverges, on the same step on both."""
    D, L, M = shape
    cfg = ResNetConfig(D=D, L=L, M=M, activation=activation)  # type: ignore[arg-type]
    members = [Member(a, seed) for a in (0.3, 1.0, 4.0) for seed in (0, 1)]
    blowing = [Member(1e-3, seed) for seed in (0, 1)]
    on_kernel, f64 = _train(cfg, members, 1.0, 6), _train(cfg, members, 1.0, 6, F64)
    blown = _train(cfg, blowing, 200.0, 6)
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.engine_name(cfg, 10, F32, torch.device("cpu")) == "torch"
    on_torch, blown_torch = _train(cfg, members, 1.0, 6), _train(cfg, blowing, 200.0, 6)
    stable = [(a, b, ref) for a, b, ref in zip(on_kernel, on_torch, f64, strict=True) if not ref.diverged]
    assert len(stable) >= 3  # (a linear net may blow up at eta 1)
    for a, b, ref in stable:
        assert not a.diverged and not b.diverged
        names = [n for n, v in ref.metrics.items() if math.isfinite(v) and v != 0]
        for run in (a, b):  # both engines ~1e-7 from float64 on the losses, ~1e-5 on the diagnostics
            err = _max_rel(run.loss_curve + [run.metrics[n] for n in names],
                           ref.loss_curve + [ref.metrics[n] for n in names])
            assert err < 1e-4, (run.member, err)
    for a, b in zip(blown, blown_torch, strict=True):
        assert a.diverged_at_step is not None and a.diverged_at_step == b.diverged_at_step
        # the first step agrees to rounding; then the blow-up amplifies it (a few % by step 3)
        assert a.loss_curve[:2] == pytest.approx(b.loss_curve[:2], rel=1e-4, nan_ok=True)


def test_which_engine_trains_what(kernel: object, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    cfg = ResNetConfig(D=4, L=2, M=3)
    assert isinstance(steps_for(cfg, make_problem(0, 3, 2, 2, 4, dtype=F32)), NativeSteps)
    assert not isinstance(steps_for(cfg, make_problem(0, 3, 2, 2, 4, dtype=F64)), NativeSteps)  # float64: PyTorch
    assert native.engine_name(cfg, 3, F32, cpu) == "native"
    # large products: MKL's batched calls are faster there (native.MAX_MEMBER_PRODUCT)
    big = ResNetConfig(D=512, L=2, M=512)
    assert native.engine_name(big, 2, F32, cpu) == "torch" and native.engine_name(big, 1, F64, cpu) == "torch"
    assert type(steps_for(big, make_problem(0, 256, 2, 2, 512, dtype=F32))) is TorchSteps
    edge = ResNetConfig(D=64, L=2, M=64)  # N D M = 2^18 at N = 64, the last shape on the kernel
    assert native.engine_name(edge, 64, F32, cpu) == "native" and native.engine_name(edge, 65, F32, cpu) == "torch"
    linear = ResNetConfig(D=4, L=2, M=3, activation="linear")
    assert native.engine_name(linear, 3, F32, cpu) == "native"
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert type(steps_for(cfg, make_problem(0, 3, 2, 2, 4, dtype=F32))) is TorchSteps


def test_a_kernel_that_cannot_build_leaves_training_on_pytorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "csrc"
    broken.mkdir()
    (broken / "block.cpp").write_text("this is not C++\n")
    monkeypatch.setattr(native, "_SOURCES", broken)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    native.kernel.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="worker.native"):
            assert native.kernel() is None
        assert "not available" in caplog.text
        cfg = ResNetConfig(D=4, L=2, M=3)
        problem = make_problem(0, 3, 2, 2, 4, dtype=F32)
        assert type(steps_for(cfg, problem)) is TorchSteps
        [result] = train_ensemble(cfg, problem, [Member(1.0, 0)], 1.0, 2)
        assert result.loss_curve[-1] < result.loss_curve[0]
    finally:
        native.kernel.cache_clear()  # the real kernel again for the other tests


def test_dropped_members_leave_the_others_diagnostics_alone(kernel: object) -> None:
    """The kernel's diagnostics read the initial states and units of the active members through
    their ensemble slots: members that diverge on the way change nothing in the diagnostics of the
    others, which match the same members trained alone. At eta 30 this shape is at the edge of
    stability: members diverge between steps 3 and 5, a few not at all (which ones depends on the
    rounding, so on the CPU's vector width; the test needs some of each)."""
    cfg = ResNetConfig(D=16, L=6, M=32)
    members = [Member(a, seed) for a in (1e-2, 0.5, 2.0, 16.0) for seed in range(3)]
    problem = make_problem(0, 10, 5, 5, cfg.D, dtype=F32)
    together = train_ensemble(cfg, problem, members, 30.0, 5)
    early = [r for r in together if r.diverged_at_step is not None and r.diverged_at_step < 5]
    survivors = [i for i, r in enumerate(together) if not r.diverged]
    assert early and survivors, [r.diverged_at_step for r in together]
    alone = train_ensemble(cfg, problem, [members[i] for i in survivors], 30.0, 5)
    names = ("feature_update", "preact_change", "weight_change_rel", "rep_change", "loss_final")
    for i, b in zip(survivors, alone, strict=True):
        assert not b.diverged
        for name in names:
            assert together[i].metrics[name] == pytest.approx(b.metrics[name], rel=1e-6), name


def test_many_steps_a_call_are_the_steps_one_at_a_time(kernel: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel takes as many steps a call as fit in STEPS_CALL_SECONDS, each member taking its
    steps one after the other and stopping at its first bad step: the losses, the divergence steps,
    the diagnostics and the progress calls are exactly those of one step a call. The members of the
    test above diverge inside the 4-step call, at different steps."""
    import worker.train as train_module

    cfg = ResNetConfig(D=16, L=6, M=32)
    members = [Member(a, seed) for a in (1e-2, 0.5, 2.0, 16.0) for seed in range(3)]
    problem = make_problem(0, 10, 5, 5, cfg.D, dtype=F32)
    calls: list[int] = []
    advance = NativeSteps.advance

    def counted(self: NativeSteps, work: Working, k: int, K: int, loss0: torch.Tensor | None) -> tuple:
        calls.append(K)
        return advance(self, work, k, K, loss0)

    monkeypatch.setattr(NativeSteps, "advance", counted)
    runs = {}
    for seconds in (0.0, 1e9):
        monkeypatch.setattr(train_module, "STEPS_CALL_SECONDS", seconds)
        progress: list[int] = []
        calls.clear()
        results = train_ensemble(cfg, problem, members, 30.0, 5, on_step=_recorder(progress))
        runs[seconds] = (results, progress, list(calls))
    (one, one_progress, one_calls), (many, many_progress, many_calls) = runs[0.0], runs[1e9]
    assert set(one_calls) == {1} and many_calls == [1, 4]  # the first call measures the pace
    diverged = [r.diverged_at_step for r in one]
    assert len({d for d in diverged if d is not None}) >= 2 and None in diverged, diverged
    assert [r.diverged_at_step for r in many] == diverged
    assert many_progress == one_progress == list(range(1, 6))
    for a, b in zip(one, many, strict=True):
        assert torch.equal(torch.tensor(a.loss_curve).nan_to_num(-1.0), torch.tensor(b.loss_curve).nan_to_num(-1.0))
        for name, value in a.metrics.items():
            assert value == b.metrics[name] or (math.isnan(value) and math.isnan(b.metrics[name])), name


def _recorder(seen: list[int]) -> Callable[[int, int], None]:
    """A progress hook that records each step it is called with."""
    def hook(step: int, steps: int) -> None:
        seen.append(step)
    return hook
