"""Training an ensemble in parts side by side (worker/parts.py, worker/threads.py): the same numbers
as one batch, the loss buffer filled for every member, a cancel or an error stops every part, and
the rule that decides when to split."""

from __future__ import annotations

import math

import pytest
import torch

from worker.resnet import Problem, ResNetConfig, make_problem
from worker.threads import PART_MACS, part_bounds, parts_for
from worker.train import Member, train_ensemble

F64 = torch.float64
CPU = torch.device("cpu")


def _ensemble() -> tuple[ResNetConfig, Problem, list[Member]]:
    cfg = ResNetConfig(D=12, L=6, M=7, activation="linear")
    problem = make_problem(0, 10, 5, 5, cfg.D, dtype=F64)
    # alpha 1e-3 in a linear net: units move ~eta/alpha a step and it blows up, so the parts drop
    # members as the whole batch does (one diverging member in each half)
    members = [Member(a, seed) for a in (1e-3, 1.0, 4.0, 1e-3) for seed in (0, 1)]
    return cfg, problem, members


@pytest.mark.parametrize("parts", [2, 3])
def test_parts_give_the_numbers_of_one_batch(parts: int) -> None:
    cfg, problem, members = _ensemble()
    whole = train_ensemble(cfg, problem, members, 1.0, 5, parts=1)
    split = train_ensemble(cfg, problem, members, 1.0, 5, parts=parts)
    assert [r.member for r in split] == members
    assert any(r.diverged for r in whole)
    for a, b in zip(whole, split, strict=True):
        assert a.diverged_at_step == b.diverged_at_step
        assert a.loss_curve == pytest.approx(b.loss_curve, rel=1e-12, nan_ok=True)
        for name, value in a.metrics.items():
            assert b.metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), name


def test_the_loss_buffer_holds_every_members_curve() -> None:
    cfg, problem, members = _ensemble()
    seen: list[torch.Tensor] = []
    results = train_ensemble(cfg, problem, members, 1.0, 4, on_losses=seen.append, parts=2)
    assert len(seen) == 1 and seen[0].shape == (len(members), 5)
    for row, r in zip(seen[0], results, strict=True):
        assert row.tolist() == pytest.approx(r.loss_curve, nan_ok=True)
    assert not math.isnan(float(seen[0][-1, 0]))  # the second part's rows were written too


class Cancelled(Exception):
    pass


def test_a_cancel_from_the_step_hook_stops_every_part() -> None:
    cfg, problem, members = _ensemble()
    steps_seen: list[int] = []

    def on_step(step: int, steps: int) -> None:
        steps_seen.append(step)
        if step >= 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        train_ensemble(cfg, problem, members, 1.0, 50, on_step=on_step, parts=2)
    # the hook is called by every part (one at a time); none ran on past its next step
    assert steps_seen and max(steps_seen) <= 3


def test_an_error_in_one_part_stops_the_others_and_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.train as train_module

    cfg, problem, members = _ensemble()
    real = train_module._train
    steps_seen: list[int] = []

    def failing(cfg_, problem_, part, *args, **kwargs):  # the second part fails at its start
        if part[0] == members[4]:
            raise MemoryError("the second part ran out of memory")
        return real(cfg_, problem_, part, *args, **kwargs)

    monkeypatch.setattr(train_module, "_train", failing)
    with pytest.raises(MemoryError, match="second part"):
        train_ensemble(cfg, problem, members, 1.0, 200, on_step=lambda k, _: steps_seen.append(k), parts=2)
    assert max(steps_seen, default=0) < 200  # the first part stopped early


def test_when_to_split() -> None:
    torch_threads = torch.get_num_threads()
    small = ResNetConfig(D=16, L=16, M=16)  # E N D M = 36 * 10 * 256 = 92k: Python-bound, one part
    big = ResNetConfig(D=16, L=64, M=64)  # 368k: two parts on two threads
    assert parts_for(small, 36, 10, CPU) == 1
    expected = 1 if torch_threads < 2 else min(torch_threads, 36 * 10 * 16 * 64 // PART_MACS)
    assert parts_for(big, 36, 10, CPU) == expected
    assert parts_for(big, 1, 10, CPU) == 1  # one member: nothing to split
    huge = ResNetConfig(D=512, L=4, M=512)  # multi-threaded kernels: one part
    assert parts_for(huge, 36, 256, CPU) == 1
    assert part_bounds(7, 2) == [(0, 4), (4, 7)] or part_bounds(7, 2) == [(0, 3), (3, 7)]
    assert sum(b - a for a, b in part_bounds(36, 5)) == 36
