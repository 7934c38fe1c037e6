"""What a sweep is: an experiment (or its small run), seeds, the script's flags, and the sweep folder.

The sweep folder (default ``runs/<experiment>-sweep``, ``runs/<experiment>-smoke-sweep`` for the small run) holds one
run folder per seed, ``seed-<n>``, each an ordinary run of the script (``--seed n --output-dir .../seed-<n>``):
locked, resumable, with its manifest. ``sweep.json`` records the experiment, the flags, and per seed how it was last
started (``local``, or the Slurm job and task). Rerunning a sweep resumes every unfinished seed; a sweep folder
holds one experiment with one set of flags (more seeds may be added).
"""

import importlib
import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import experiments
from harness.errors import USAGE, UserError
from harness.files import atomic_output

NAME = "sweep.json"
SMOKE = "-smoke"
SET_BY_THE_SWEEP = ("--seed", "--output-dir")


class Sweep(NamedTuple):
    """An experiment's runs that differ only in their seed."""

    folder: Path
    experiment: experiments.Experiment
    flags: List[str]  # the script's flags: the small run's, then the user's

    def run_folder(self, seed: int) -> Path:
        return self.folder / ("seed-%d" % seed)

    def arguments(self, seed: int) -> List[str]:
        """The script's command line for one seed (after ``python -m <module>``)."""
        return ["--seed", str(seed), "--output-dir", str(self.run_folder(seed))] + self.flags

    def command(self, python: str, seed: int) -> List[str]:
        return [python, "-u", "-m", self.experiment.module] + self.arguments(seed)


def resolve(name: str) -> experiments.Experiment:
    """The experiment a sweep names: its name (``binarynet-mnist``) or make target (``mnist``, ``bc-mnist``), with
    ``-smoke`` for its small run."""
    base = name[: -len(SMOKE)] if name.endswith(SMOKE) else name
    for experiment in experiments.EXPERIMENTS:
        if base in (experiment.name, experiment.target):
            return experiment
    raise UserError(
        "%s is not an experiment: name one of %s (add -smoke for the small run)"
        % (name, ", ".join(e.target for e in experiments.EXPERIMENTS)),
        USAGE,
    )


def make(name: str, flags: Sequence[str], runs: Path, folder: Optional[Path]) -> Sweep:
    """The sweep of experiment ``name`` (see :func:`resolve`) with the script's ``flags``, in ``folder`` (default
    ``runs/<experiment>[-smoke]-sweep``)."""
    experiment = resolve(name)
    smoke = name.endswith(SMOKE)
    given = [flag.split("=", 1)[0] for flag in flags if flag.split("=", 1)[0] in SET_BY_THE_SWEEP]
    if given:
        raise UserError(
            "%s: the sweep sets each run's seed and folder itself (--seeds, --sweep-dir)" % ", ".join(given), USAGE
        )
    default = runs / ("%s%s-sweep" % (experiment.name, SMOKE if smoke else ""))
    return Sweep(folder or default, experiment, (experiment.smoke_flags.split() if smoke else []) + list(flags))


def check_flags(sweep: Sweep, seeds: Sequence[int]) -> None:
    """Parse every seed's command line with the script's settings (imports the script, so Theano), so that a bad
    flag or seed is one error line now rather than a failed run per seed later."""
    module = importlib.import_module(sweep.experiment.module)
    settings = getattr(module, sweep.experiment.settings)
    for seed in seeds:
        parsed = settings.parse(sweep.arguments(seed))
        if (parsed.seed, parsed.output_dir) != (seed, str(sweep.run_folder(seed))):  # an abbreviation, --see 5
            raise UserError(
                "the script's flags [%s] set the seed or the run folder: the sweep sets them itself "
                "(--seeds, --sweep-dir)" % " ".join(sweep.flags),
                USAGE,
            )


def read(folder: Path) -> Dict[str, Any]:
    """A sweep folder's ``sweep.json``; a UserError when it is missing or malformed."""
    path = folder / NAME
    if not path.is_file():
        raise UserError("%s has no %s: it is not a sweep folder (start one with `make sweep`)" % (folder, NAME))
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError("%s is unreadable (%s): start the sweep again to rewrite it" % (path, error)) from None
    if not (
        isinstance(recorded, dict)
        and isinstance(recorded.get("experiment"), str)
        and isinstance(recorded.get("flags"), list)
        and isinstance(recorded.get("seeds"), dict)
    ):
        raise UserError("%s lacks experiment, flags or seeds: start the sweep again to rewrite it" % path)
    return recorded


def check_folder(sweep: Sweep) -> Dict[str, Any]:
    """What ``sweep.json`` holds already (nothing for a new sweep folder); a sweep folder made for another
    experiment or other flags is refused."""
    if not (sweep.folder / NAME).exists():
        return {}
    before = read(sweep.folder)
    if (before["experiment"], before["flags"]) != (sweep.experiment.name, sweep.flags):
        raise UserError(
            "%s is a sweep of %s with flags [%s]: choose another --sweep-dir for %s with [%s]"
            % (
                sweep.folder,
                before["experiment"],
                " ".join(before["flags"]),
                sweep.experiment.name,
                " ".join(sweep.flags),
            )
        )
    return before


def prepare(sweep: Sweep) -> None:
    """Check the sweep folder (:func:`check_folder`) and make it."""
    check_folder(sweep)
    try:
        sweep.folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            "cannot make the sweep folder %s (%s): choose another --sweep-dir" % (sweep.folder, error.strerror)
        ) from None


def record(sweep: Sweep, started: Dict[int, Dict[str, Any]]) -> None:
    """Write ``sweep.json``, with ``started`` (per seed: how it was started now) added to what was there."""
    seeds = dict(check_folder(sweep).get("seeds", {}))
    seeds.update({str(seed): how for seed, how in started.items()})
    recorded = {
        "experiment": sweep.experiment.name,
        "module": sweep.experiment.module,
        "flags": sweep.flags,
        "seeds": dict(sorted(seeds.items(), key=lambda item: int(item[0]))),
    }
    with atomic_output(sweep.folder / NAME) as f:
        f.write((json.dumps(recorded, indent=1) + "\n").encode())
