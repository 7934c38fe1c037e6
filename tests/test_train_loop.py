"""The train() loop of docs/REPRODUCTION.md §1.10 with stand-in train/val functions (no Theano compile), inside a
run folder: checkpoint after every epoch, log.jsonl rewritten from it, exact resume."""

import compat  # noqa: F401

import json
import os
import signal
from dataclasses import dataclass

import lasagne
import numpy as np
import pytest
import theano

from binarynet import binary_net
from harness import run_folder
from harness.checkpoint import Checkpoint, npz_crcs
from harness.errors import UserError
from harness.settings import Settings, flag, parameters_file, positive

f32 = np.float32
BATCH = 10


@dataclass(frozen=True)
class LoopSettings(Settings):
    """A run folder's settings for these tests."""

    EXPERIMENT = "loop-test"
    num_epochs: int = flag(5, positive, "epochs")
    num_units: int = flag(2, positive, "units")
    save_path: str = parameters_file("best.npz")


class FakeFunctions:
    """train_fn/val_fn stand-ins: the scripted validation error of epoch e is VAL_ERR[e - 1] (a fraction)."""

    VAL_ERR = (0.5, 0.4, 0.4, 0.45, 0.3)

    def __init__(self, interrupt_at_epoch=None, epochs_done=0):
        self.weight = theano.shared(f32(0), name="w")  # state that train_fn updates, to be checkpointed
        self.train_batches = []
        self.test_calls = 0
        self.epoch = 0
        self.epochs_done = epochs_done  # epochs a resumed run skips
        self.interrupt_at_epoch = interrupt_at_epoch

    def get_shared(self):
        return [self.weight]

    def __call__(self, X, y, LR):  # train_fn: two batches per epoch
        self.epoch = self.epochs_done + len(self.train_batches) // 2 + 1
        if self.epoch == self.interrupt_at_epoch:
            raise KeyboardInterrupt
        self.train_batches.append((X[:, 0].copy(), LR))
        self.weight.set_value(self.weight.get_value() + f32(LR) * X.sum())
        return np.array(X.mean(), dtype=f32)

    def val_fn(self, X, y):
        if X[0, 0] >= 1000:  # the test set
            self.test_calls += 1
            return [np.array(0.2, dtype=f32), np.array(0.1 * self.epoch, dtype=f32)]
        return [np.array(1.0, dtype=f32), np.array(self.VAL_ERR[self.epoch - 1], dtype=f32)]


def data():
    X_train = np.arange(25, dtype=f32)[:, None] * np.ones((1, 3), f32)  # 25 rows: 2 batches, 5 dropped
    X_val = np.zeros((20, 3), f32) + 500
    X_test = np.zeros((10, 3), f32) + 1000
    return X_train, np.arange(25), X_val, np.zeros(20), X_test, np.zeros(10)


def run(fns, folder, argv=()):
    """The loop on data() inside the run folder ``folder``; returns (the loop's state, the run folder, X_train)."""
    X_train, y_train, X_val, y_val, X_test, y_test = data()
    with run_folder.start(LoopSettings, ["--output-dir", str(folder)] + list(argv)) as opened:
        net = lasagne.layers.DenseLayer(lasagne.layers.InputLayer((None, 3)), opened.settings.num_units)
        np.random.seed(opened.settings.seed)  # as the scripts do first
        opened.settings.print_listing()
        state = binary_net.train(
            fns,
            fns.val_fn,
            net,
            BATCH,
            0.5,
            0.5,
            opened.settings.num_epochs,
            X_train,
            y_train,
            X_val,
            y_val,
            X_test,
            y_test,
            epochs=opened,
        )
    return state, opened, X_train


def strip(records):
    return [{k: v for k, v in r.items() if k not in ("seconds", "time")} for r in records]


def read_log(folder):
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_loop_schedule_model_selection_and_console_lines(tmp_path, capsys):
    fns = FakeFunctions()
    state, opened, _ = run(fns, tmp_path)
    history = opened.history
    lines = capsys.readouterr().out.splitlines()

    # floor(25 / 10) = 2 sequential batches per epoch; the LR of epoch e is 0.5 * 0.5**(e-1).
    assert [LR for _, LR in fns.train_batches] == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625, 0.0625, 0.03125, 0.03125]
    assert all(len(rows) == BATCH for rows, _ in fns.train_batches)
    # Validation 40 % ties at epoch 3: ties count, so best epoch 3; epoch 4 is worse: test numbers are stale.
    assert [r["best_epoch"] for r in history] == [1, 2, 3, 3, 5]
    assert [r["validation_error_rate"] for r in history] == pytest.approx([50, 40, 40, 45, 30])
    assert [r["test_error_rate"] for r in history] == pytest.approx([10, 20, 30, 30, 50])
    assert (state.epoch, state.best_epoch, state.best_val_err, state.LR) == (5, 5, pytest.approx(30), 0.5**6)
    assert fns.test_calls == 4 * 1  # one test batch, evaluated at epochs 1, 2, 3 and 5
    epochs = lines[lines.index("num_units = 2") + 1 :]
    assert len(epochs) == 5 * 9
    assert epochs[0].startswith("Epoch 1 of 5 took ") and epochs[0].endswith("s")
    assert [line[:33] for line in epochs[1:9]] == [
        "  LR:                            ",
        "  training loss:                 ",
        "  validation loss:               ",
        "  validation error rate:         ",
        "  best epoch:                    ",
        "  best validation error rate:    ",
        "  test loss:                     ",
        "  test error rate:               ",
    ]
    assert epochs[1] == "  LR:                            0.5" and epochs[5] == "  best epoch:                    1"
    assert epochs[4] == "  validation error rate:         50.0%"  # Python 2's str(50.0)
    assert read_log(tmp_path) == history and all(r["time"].endswith("Z") for r in history)
    assert opened.saved_params == npz_crcs(tmp_path / "best.npz")
    with np.load(tmp_path / "best.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == ["arr_0", "arr_1"]


def test_shuffle_matches_list_shuffles_and_compounds():
    np.random.seed(1234)
    X = np.arange(30, dtype=f32).reshape(10, 3)
    y, order = np.arange(10) * 2, np.arange(10)
    X0 = X.copy()
    binary_net.shuffle(X, y, order)
    binary_net.shuffle(X, y, order)

    np.random.seed(1234)
    p0, p1 = list(range(10)), list(range(10))
    np.random.shuffle(p0)  # the original shuffles a Python list range(N), once per call
    np.random.shuffle(p1)
    expected = np.array(p0)[p1]  # cumulative: the second permutation applies to the shuffled order
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(X, X0[expected])
    np.testing.assert_array_equal(y, expected * 2)


def test_shuffle_parts_permutes_each_chunk_with_successive_reshuffles():
    np.random.seed(7)
    X, y, order = np.arange(11, dtype=f32)[:, None], np.arange(11), np.arange(11)
    binary_net.shuffle(X, y, order, shuffle_parts=3)

    np.random.seed(7)
    perm = list(range(3))
    expected = []
    for k in range(3):
        np.random.shuffle(perm)  # the same list, reshuffled for each chunk
        expected += [3 * k + i for i in perm]
    np.testing.assert_array_equal(order, expected + [9, 10])  # rows past 3 * (11 // 3) never move


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    straight = FakeFunctions()
    expected, expected_run, X_expected = run(straight, tmp_path / "a")
    random_after = np.random.randint(1 << 30)

    with pytest.raises(UserError, match="interrupted .*keeps the checkpoint after epoch 2 of 5") as interrupted:
        run(FakeFunctions(interrupt_at_epoch=3), tmp_path / "b")  # Ctrl-C: what was kept and how to resume
    assert interrupted.value.status == 130
    assert len(read_log(tmp_path / "b")) == 2
    np.random.seed(999)  # the resumed process seeds np.random again; the checkpoint's state must win
    resumed_fns = FakeFunctions(epochs_done=2)
    resumed, resumed_run, X_resumed = run(resumed_fns, tmp_path / "b")

    assert [LR for _, LR in resumed_fns.train_batches] == [0.125, 0.125, 0.0625, 0.0625, 0.03125, 0.03125]
    assert strip(resumed_run.history) == strip(expected_run.history)
    assert {k: v for k, v in vars(resumed).items() if k != "order"} == {
        k: v for k, v in vars(expected).items() if k != "order"
    }
    assert resumed_fns.weight.get_value() == straight.weight.get_value()
    np.testing.assert_array_equal(resumed.order, expected.order)
    np.testing.assert_array_equal(X_resumed, X_expected)
    assert np.random.randint(1 << 30) == random_after
    assert read_log(tmp_path / "b") == resumed_run.history


def test_ctrl_c_during_a_checkpoint_write_reports_the_checkpoint_on_disk(tmp_path, monkeypatch):
    """SIGINT arriving while epoch 3's checkpoint is written: the write completes first, the line says epoch 3,
    and the rerun resumes after epoch 3."""
    real_save = Checkpoint.save
    saves = []

    def save_interrupted_at_the_third(self, *args):
        saves.append(1)
        if len(saves) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(self, *args)

    monkeypatch.setattr(Checkpoint, "save", save_interrupted_at_the_third)
    with pytest.raises(UserError, match="interrupted .*keeps the checkpoint after epoch 3 of 5"):
        run(FakeFunctions(), tmp_path)
    monkeypatch.setattr(Checkpoint, "save", real_save)
    resumed_fns = FakeFunctions(epochs_done=3)
    run(resumed_fns, tmp_path)
    assert [LR for _, LR in resumed_fns.train_batches] == [0.0625, 0.0625, 0.03125, 0.03125]


def test_a_lost_log_line_is_rewritten_and_a_finished_run_prints_its_result(tmp_path, capsys):
    """A kill between the checkpoint and the log of the last epoch: the next start rewrites log.jsonl from the
    checkpoint, sees every epoch done, prints the final result and does nothing else."""
    run(FakeFunctions(), tmp_path)
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    (tmp_path / "log.jsonl").write_text("\n".join(lines[:3]) + "\n")
    capsys.readouterr()
    with pytest.raises(Exception) as finished:
        run(FakeFunctions(interrupt_at_epoch=1), tmp_path)
    assert type(finished.value).__name__ == "Finished"
    assert (tmp_path / "log.jsonl").read_text().splitlines() == lines
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "%s: all 5 epochs are done; best epoch 5: validation error rate 30.0000011921%%, test error "
        "rate 50.0%% (every epoch is in %s)" % (tmp_path, tmp_path / "log.jsonl")
    )


def test_checkpoint_refuses_other_settings_before_anything_runs(tmp_path):
    run(FakeFunctions(), tmp_path, ["--num-epochs", "1"])
    with pytest.raises(UserError, match="other settings \\(num_units 2, now 4\\)"):
        run(FakeFunctions(), tmp_path, ["--num-epochs", "1", "--num-units", "4"])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
