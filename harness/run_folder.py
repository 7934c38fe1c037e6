"""A run's output folder, made ready before any data is read or graph compiled.

``with run_folder.start(Settings, argv) as run:`` parses and checks the flags, then makes the folder
(``--output-dir``), proves it writable and locks it for this process (a second run into it is refused, naming the
process that holds it; the lock of a killed run is taken over), reads and checks an existing checkpoint against the
settings, then opens ``console.log``, records the session in ``run.json`` and says which device Theano computes on.
A run whose checkpoint has every epoch done says so with its result instead, and the command ends with status 0.
From the start, SIGUSR1 asks the run to stop after the epoch in progress (harness.stop): it ends once that epoch's
checkpoint is written, with one line and exit status 3, and a rerun continues it.

The script then does what the original does (seed ``np.random``, print its settings, load, build, train), and the
run folder is the ``epochs`` argument of binarynet.binary_net.train: it resumes the loop from the checkpoint, shows
progress within each pass, writes the best epoch's parameters, then after every epoch the checkpoint and the log.

Files of a run folder: ``run.json`` (manifest), ``console.log``, ``log.jsonl`` (rewritten from the checkpoint on
every start, so a kill can never lose or repeat an epoch), ``checkpoint.npz`` (+ ``checkpoint.previous.npz``) and the
best epoch's parameters (e.g. ``mnist_parameters.npz``).
"""

from compat.number_format import py2_str

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Type

import numpy as np

import experiments
from harness import epoch_log, lock, manifest, stop
from harness.checkpoint import Checkpoint, Saved, is_saved_file, npz_crcs
from harness.console import console_log, to_log_only
from harness.errors import INTERRUPTED, Finished, Stopped, UserError, error_line
from harness.files import ensure_space, writable_file, write_npz
from harness.progress import duration, progress
from harness.settings import Settings

CHECKPOINT, LOG, CONSOLE = "checkpoint.npz", "log.jsonl", "console.log"


class RunFolder:
    """The open, locked folder of one run; ``saved`` is its checked checkpoint (None for a fresh run).

    Its ``resume``, ``batches``, ``save_parameters`` and ``epoch_done`` are what binary_net.train calls
    (binary_net.Epochs); ``history`` (the log's records) and ``saved_params`` (the CRCs of the parameters file)
    are kept in the checkpoint beside the loop's variables.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = Path(settings.output_dir)
        self.checkpoint = Checkpoint(self.folder / CHECKPOINT, settings.config())
        self.saved: Optional[Saved] = None
        self.log_path = self.folder / LOG
        self.parameters_path = self.folder / settings.save_path
        self.manifest = {
            "experiment": settings.EXPERIMENT,
            "paper_settings": settings.is_paper_run(),
            "settings": settings.as_dict(),
            "sessions": [],
        }
        self.history: List[Dict[str, Any]] = []
        self.saved_params: List[int] = []
        self.shared: List[Any] = []

    def compiling(self, params: Sequence[Any]) -> None:
        """Before compiling: a UserError when the folder's file system cannot take the first checkpoint and
        parameters file (about four times the network's ``params``: themselves, Adam's two moments, the parameters
        file), so that a small disk is found now, not after an epoch."""
        size = sum(param.get_value(borrow=True).nbytes for param in params)
        ensure_space(self.checkpoint.path, 4 * size + (1 << 20))

    def compiled(self, seconds: float) -> None:
        """Record the compile time of this session (run.json) and say it."""
        print("compiled in %s" % duration(seconds), file=sys.stderr, flush=True)
        self.manifest["sessions"][-1]["compile_seconds"] = round(seconds, 1)
        manifest.write(self.folder, self.manifest)

    def resume(self, shared: List[Any]) -> Optional[Dict[str, Any]]:
        """The loop's variables after the checkpoint's last epoch, with ``shared`` and ``np.random`` restored from
        it (None for a fresh run); ``shared`` are the variables every checkpoint will hold."""
        self.shared = list(shared)
        if self.saved is None:
            return None
        loop = self.saved.restore(self.shared)
        print("Resuming after epoch %d from %s" % (self.saved.epoch, self.saved.path), file=sys.stderr, flush=True)
        return loop

    def batches(self, n: int, description: str) -> Iterable[int]:
        """range(n), with progress on stderr (a bar on a terminal, else a plain line now and then)."""
        return progress(range(n), description, n)

    def save_parameters(self, values: List[np.ndarray]) -> None:
        """The best epoch's parameters, as the original's ``np.savez(save_path, *params)`` (keys arr_0...),
        written atomically; their CRCs go into the next checkpoint."""
        write_npz(self.parameters_path, {"arr_%d" % i: value for i, value in enumerate(values)})
        self.saved_params = npz_crcs(self.parameters_path)

    def epoch_done(self, state: Any, figures: Dict[str, Any]) -> None:
        """After each epoch: the checkpoint (the loop's ``state``, every shared variable, the history), then
        log.jsonl rewritten from the same history; then, if a signal asked for it (harness.stop) and epochs are
        left, the run stops here."""
        with _ctrl_c_held_back():  # so that the history Ctrl-C reports is the checkpoint on disk
            self.history.append(epoch_log.record(figures))
            self.checkpoint.save(state, self.shared, self.history, self.saved_params)
        epoch_log.write_jsonl(self.log_path, self.history)
        if stop.requested() and figures["epoch"] < figures["num_epochs"]:
            print(
                "stopped after epoch %d of %d on %s: rerun the same command to continue"
                % (figures["epoch"], figures["num_epochs"], stop.requested()),
                file=sys.stderr,
                flush=True,
            )
            raise Stopped()


@contextlib.contextmanager
def _ctrl_c_held_back() -> Iterator[None]:
    """Ctrl-C (SIGINT) held back until the block ends: it then interrupts the run as usual (a handler, not a
    signal mask: any of the process's threads, OpenBLAS's among them, may be the one that receives it)."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)


def _prepare(run: RunFolder) -> None:
    """Create the run's folder; a UserError when it cannot be one (a file is there, no permission, read-only) or
    when a file the run writes cannot be written (a folder in its place)."""
    folder = run.folder
    if folder.exists() and not folder.is_dir():
        raise UserError("--output-dir %s is a file, not a folder: choose another --output-dir" % folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            "cannot make --output-dir %s (%s): choose another --output-dir" % (folder, error.strerror)
        ) from None
    for path in (
        folder / lock.NAME,
        folder / CONSOLE,
        folder / manifest.NAME,
        run.log_path,
        run.checkpoint.path,
        run.checkpoint.previous,
        run.parameters_path,
    ):
        writable_file(path)


def _device_notice(settings: Settings) -> None:
    """Say where Theano computes; for a paper-size run on a CPU, how long it would take and what to do instead."""
    device = manifest.device()
    print("Theano computes on: %s (floatX=%s)" % (device, manifest.float_type()), file=sys.stderr)
    experiment = experiments.by_name(settings.EXPERIMENT)
    if device == "cpu" and settings.is_paper_run() and experiment:
        seconds = experiment.cpu_epoch_seconds
        print(
            "note: this is the paper's full run on a CPU: about %s per epoch on 2 CPU cores (measured), so about "
            "%s for %d epochs. For a run that learns in minutes, `%s`; for the paper's run, a GPU "
            "(README: Running on a GPU)."
            % (
                duration(seconds),
                duration(seconds * settings.num_epochs),
                settings.num_epochs,
                experiment.smoke_command,
            ),
            file=sys.stderr,
        )
    sys.stderr.flush()


def _resync(run: RunFolder) -> None:
    """Take the history and parameters-file CRCs from the checkpoint and make the files derived from it agree:
    log.jsonl, and the parameters file (rebuilt from a checkpoint that holds the best epoch's values when it is
    missing or damaged; a finished run that cannot be rebuilt is refused, saying what to do)."""
    run.history, run.saved_params = list(run.saved.history), list(run.saved.saved_params)
    epoch_log.write_jsonl(run.log_path, run.history)
    if not run.saved_params or is_saved_file(run.parameters_path, run.saved_params):
        return
    rebuilt = run.checkpoint.parameters(run.saved)
    if rebuilt is not None:
        source, values = rebuilt
        write_npz(run.parameters_path, {"arr_%d" % i: value for i, value in enumerate(values)})
        print(
            "note: %s was missing or damaged: rebuilt from %s (the best epoch's parameters, checked against the "
            "CRCs the checkpoint recorded)" % (run.parameters_path, source.path),
            file=sys.stderr,
            flush=True,
        )
    elif run.saved.epoch >= run.settings.num_epochs:
        raise UserError(
            "%s is missing or damaged, and neither checkpoint holds the best epoch's (%d) parameters: "
            "train afresh (the same command with another --output-dir)" % (run.parameters_path, run.saved.best_epoch)
        )
    else:
        print(
            "note: %s is not the one the checkpoint goes with (the run was stopped between writing the two); it is "
            "rewritten when the next best epoch is reached" % run.parameters_path,
            file=sys.stderr,
            flush=True,
        )


def _say_finished(run: RunFolder) -> None:
    """One line for a run with every epoch done: its result (the last epoch's, as the originals report it)."""
    last = run.history[-1]
    print(
        "%s: all %d epochs are done; best epoch %d: validation error rate %s%%, test error rate %s%% (every epoch "
        "is in %s)"
        % (
            run.folder,
            run.settings.num_epochs,
            last["best_epoch"],
            py2_str(last["best_validation_error_rate"]),
            py2_str(last["test_error_rate"]),
            run.log_path,
        ),
        flush=True,
    )


def _earlier_sessions(run: RunFolder) -> None:
    """Keep the sessions run.json recorded; a run.json that cannot be read is set aside (renamed), not lost, and a
    new one written (the experiment and settings, for evaluate and export)."""
    path = run.folder / manifest.NAME
    try:
        run.manifest["sessions"] = manifest.read(run.folder)["sessions"]
    except UserError as error:
        if path.is_file():
            kept = path.with_name("%s.damaged-%s" % (path.name, manifest.now().replace(":", "")))
            os.replace(path, kept)
            print(
                "warning: %s; it is kept as %s, and a new one records the sessions from now on"
                % (str(error).split(": rerun")[0], kept),
                file=sys.stderr,
                flush=True,
            )
        manifest.write(run.folder, run.manifest)


def _interrupted(run: RunFolder) -> UserError:
    """The one line after Ctrl-C: what the folder keeps and the command that resumes."""
    kept = (
        "the checkpoint after epoch %d of %d" % (len(run.history), run.settings.num_epochs)
        if run.history
        else "no epoch (none had finished)"
    )
    return UserError(
        "interrupted (Ctrl-C): %s keeps %s; resume with `%s`" % (run.folder, kept, run.settings.command_line()),
        INTERRUPTED,
    )


@contextlib.contextmanager
def start(settings_class: Type[Settings], argv: Optional[Sequence[str]]) -> Iterator[RunFolder]:
    """Open a run (see the module's description) for the duration of the block."""
    settings = settings_class.parse(argv)
    stop.listen()
    run = RunFolder(settings)
    _prepare(run)
    busy = (
        "--output-dir %s is in use by another run (%%s): wait for it to end, or choose another --output-dir"
        % run.folder
    )
    with lock.locked(run.folder / lock.NAME, busy) as holder, console_log(run.folder / CONSOLE):
        try:
            if holder:
                print(
                    "note: taking over %s from a run that ended without releasing it (%s)"
                    % (run.folder / lock.NAME, holder),
                    file=sys.stderr,
                    flush=True,
                )
            run.saved = run.checkpoint.read()
            _device_notice(settings)
            if run.saved is not None:
                _resync(run)
                _earlier_sessions(run)
                if run.saved.epoch >= settings.num_epochs:
                    _say_finished(run)
                    raise Finished()
            run.manifest["sessions"].append(
                dict(manifest.session(), resumed_after_epoch=run.saved.epoch if run.saved else 0)
            )
            manifest.write(run.folder, run.manifest)
            try:
                yield run
            except KeyboardInterrupt:
                raise _interrupted(run) from None
        except UserError as error:
            to_log_only(error_line(error))  # the command prints it once the console is closed
            raise
