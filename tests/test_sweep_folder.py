"""A sweep's folder is its own while it runs (shallownet.sweep_folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shallownet.errors import ConfigError
from shallownet.sweep_folder import claimed

from .cli_helpers import run_together
from .store_helpers import parents_and_children


def test_a_folder_held_by_a_running_sweep_is_refused_and_free_once_it_ends(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "multirun" / "same-second"
    # a second sweep (another open file, as another process has) finds it held
    with claimed(folder), pytest.raises(ConfigError) as refused, claimed(folder):
        pass
    assert str(refused.value) == (
        f"hydra.sweep.dir={str(folder)!r} is invalid: another sweep (pid "
        f"{os.getpid()}) is writing to it now, as sweeps started in the same "
        "second do; set hydra.sweep.dir to another folder, or start again in a second"
    )
    with claimed(folder):  # the first has ended: the folder is used again, as Hydra does
        pass


def test_a_clock_named_folder_held_by_another_sweep_gives_way_to_the_next_free_one(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "multirun" / "2026-12-07" / "23-45-00"
    with (
        claimed(folder, next_free=True) as first,
        claimed(folder, next_free=True) as second,
        claimed(folder, next_free=True) as third,
    ):
        assert (first, second, third) == (
            folder,
            folder.with_name("23-45-00_1"),
            folder.with_name("23-45-00_2"),
        )
    with claimed(folder, next_free=True) as again:  # all ended: the first is free again
        assert again == folder


@pytest.mark.slow
def test_two_sweeps_into_one_folder_never_share_it(tmp_path: Path) -> None:
    """Two sweeps started together into the same folder (as two started in the same
    second are, by Hydra's default): one runs, the other is refused in one line, exit 2,
    and the folder holds the first one's sweep alone."""
    args = ("hydra.sweep.dir=multirun/same", "train.iterations=3000", "tracking.figures=false")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    outcomes = run_together(
        tmp_path,
        *(
            ("-m", seeds, "tracking.uri=sqlite:///" + str(tmp_path / store / "mlflow.db"), *args)
            for seeds, store in (("seed=0,1,2,3", "a"), ("seed=5,6", "b"))
        ),
    )
    codes = sorted(code for code, _ in outcomes)
    # [0, 0]: both wrote into the folder (or, if one ended before the other began, the
    # sweeps are too short to overlap: each takes seconds, started together)
    assert codes == [0, 2], outcomes
    refused = next(stderr for code, stderr in outcomes if code == 2)
    assert (
        refused.strip()
        .splitlines()[-1]
        .startswith(
            f"shallownet: error: hydra.sweep.dir={str(tmp_path / 'multirun' / 'same')!r} is "
            "invalid: another sweep (pid "
        )
    )
    winner = next(n for n, (code, _) in enumerate(outcomes) if code == 0)
    seeds = ["0", "1", "2", "3"] if winner == 0 else ["5", "6"]
    folder = tmp_path / "multirun" / "same"
    jobs = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != "batches")
    assert jobs == [f"{n}_seed={seed},train.iterations=3000" for n, seed in enumerate(seeds)]


@pytest.mark.slow
def test_two_sweeps_started_in_the_same_second_both_run(tmp_path: Path) -> None:
    """Hydra names a sweep's folder by the second it started: the second of two sweeps
    takes the next free folder (a clock name that holds for a year makes them collide)."""
    args = ("hydra.sweep.dir=multirun/same_${now:%Y}", "train.iterations=3000")
    outcomes = run_together(tmp_path, ("-m", "seed=0,1,2,3", *args), ("-m", "seed=5,6", *args))
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    year = sorted(p.name for p in (tmp_path / "multirun").iterdir())
    assert len(year) == 2, year
    assert year[1] == year[0] + "_1"
    runs = {}
    for name in year:
        folder = tmp_path / "multirun" / name
        jobs = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != "batches")
        runs[len(jobs)] = jobs
        assert (folder / "multirun.yaml").is_file()
    assert runs[4] == [f"{n}_seed={n},train.iterations=3000" for n in range(4)]
    assert runs[2] == [f"{n}_seed={seed},train.iterations=3000" for n, seed in enumerate("56")]
    (parent_a, parent_b), children = parents_and_children(f"sqlite:///{tmp_path}/mlflow.db")
    assert {parent_a.info.status, parent_b.info.status} == {"FINISHED"}
    assert len(children) == 6
    dirs = {p.data.tags["shallownet.sweep_dir"] for p in (parent_a, parent_b)}
    assert dirs == {str(tmp_path / "multirun" / name) for name in year}
