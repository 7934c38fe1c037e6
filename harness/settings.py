"""A script's settings: the original's hyperparameters with the paper's values, in its printing order.

Each script declares a frozen dataclass derived from :class:`Settings`, one field per line, in the order the
original prints them (docs/REPRODUCTION.md §1.12, §2), so that the file reads like the original's list of
``name = value`` lines. A field is made with one of

* :func:`flag` — printed by the original, settable on the command line (``batch_size`` is ``--batch-size``);
* :func:`fixed` — printed, not settable: the method's choices (``binary = True``);
* :func:`derived` — printed, computed from the fields above it (``LR_decay``);
* :func:`size` — a network size the original writes into its layers (not printed), settable for smaller runs;
* :func:`rows` — how many rows of a set are used: not in the original (which always uses all), at most that many;
* :func:`parameters_file` — where the best epoch's parameters go, for the scripts whose original saved none.

The base class adds the run's own options (not printed): ``--seed``, ``--data-path`` and ``--output-dir``.
Every value is checked when the settings are made, from flags or from a run's ``run.json``: a bad one is a
:class:`~harness.errors.UserError` naming the flag and what it accepts, before any data is read or graph compiled.
"""

from compat.number_format import py2_str

import argparse
import dataclasses
import math
import os
import shlex
import sys
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from harness import progress
from harness.errors import USAGE, ArgumentParser, UserError
from harness.files import path_problem

# A check returns None for an accepted value, else what the flag accepts ("a whole number >= 1").
Check = Callable[[Any], Optional[str]]
S = TypeVar("S", bound="Settings")
FIELD_KIND = "kind"
FLAG, FIXED, DERIVED, SIZE, ROWS, OPTION, FILE = "flag", "fixed", "derived", "size", "rows", "option", "file"
SETTABLE = (FLAG, SIZE, ROWS, OPTION)
PRINTED = (FLAG, FIXED, DERIVED)
NOT_COMPARED = ("data_path", "output_dir")  # where a run reads and writes, not what it computes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def positive(value: Any) -> Optional[str]:
    """Whole numbers >= 1 (counts), or finite numbers > 0 (epsilon); each entry of a tuple (filter counts)."""
    if isinstance(value, tuple):
        return next((problem for problem in map(positive, value) if problem), None)
    if _is_int(value):
        return None if value >= 1 else "a whole number >= 1"
    return None if _is_number(value) and value > 0 else "a finite number > 0"


def learning_rate(value: Any) -> Optional[str]:
    """Finite numbers > 0 (the schedule divides by LR_start and takes logarithms of the ratio)."""
    return None if _is_number(value) and value > 0 else "a finite number > 0"


def probability(value: Any) -> Optional[str]:
    """Dropout probabilities: 0 <= p < 1 (p = 1 would drop everything and divide by zero)."""
    return None if _is_number(value) and 0 <= value < 1 else "a number p with 0 <= p < 1"


def moving_average_weight(value: Any) -> Optional[str]:
    """Batch-norm alpha, the weight of the new batch in the running averages: 0 < alpha <= 1."""
    return None if _is_number(value) and 0 < value <= 1 else "a number with 0 < alpha <= 1"


def seed(value: Any) -> Optional[str]:
    """What np.random.seed accepts: 0 <= seed < 2**32."""
    return None if _is_int(value) and 0 <= value < 2**32 else "a whole number from 0 to 4294967295"


def existing_folder(value: Any) -> Optional[str]:
    """Folders given on the command line: None (the default), or a folder that exists."""
    return None if value is None or os.path.isdir(value) else "an existing folder"


def output_folder(value: Any) -> Optional[str]:
    """Folders a run writes: None (the default under runs/), or a path the file system can make (not empty, no
    name or path too long)."""
    problem = None if value is None else path_problem(value)
    return "a folder name the file system accepts (this is %s)" % problem if problem else None


def at_most(limit: int) -> Check:
    """Row counts: 1..limit (the set's size in the paper)."""

    def check(value: Any) -> Optional[str]:
        return None if _is_int(value) and 1 <= value <= limit else "a whole number from 1 to %d" % limit

    check.limit = limit  # type: ignore[attr-defined]
    return check


def _field(
    kind: str, default: Any, check: Optional[Check] = None, help: str = "", init: bool = True, **metadata: Any
) -> Any:
    return dataclasses.field(default=default, init=init, metadata=dict(metadata, kind=kind, check=check, help=help))


def flag(default: Any, check: Check, help: str = "", option: Optional[str] = None) -> Any:
    """A printed hyperparameter with the paper's ``default``, settable as ``--name`` (or ``option``)."""
    return _field(FLAG, default, check, help, option=option)


def fixed(value: Any) -> Any:
    """A printed setting the script does not let change (a choice of the method)."""
    return _field(FIXED, value, init=False)


def derived(formula: Callable[[Any], Any]) -> Any:
    """A printed setting computed from the others, e.g. ``derived(lambda s: (s.LR_fin / s.LR_start) ** ...)``."""
    return _field(DERIVED, None, init=False, formula=formula)


def size(default: Any, help: str) -> Any:
    """A network size the original writes into its layers (not printed); settable for smaller runs."""
    return _field(SIZE, default, positive, help)


def rows(limit: int, help: str, option: Optional[str] = None) -> Any:
    """How many rows of a set a run uses: the paper's ``limit`` by default, fewer for smaller runs."""
    return _field(ROWS, limit, at_most(limit), help, option=option)


def parameters_file(name: str) -> Any:
    """Where the run saves its best epoch's parameters, for the scripts whose original saved none (§1.11)."""
    return _field(FILE, name, init=False)


def option(default: Any, check: Optional[Check], help: str) -> Any:
    """A run option that is not a setting of the original (seed, folders)."""
    return _field(OPTION, default, check, help)


def _option_name(field: dataclasses.Field) -> str:
    return field.metadata.get("option") or "--" + field.name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every script's settings; ``EXPERIMENT`` names the experiment (its default run folder)."""

    EXPERIMENT: ClassVar[str] = ""  # a name in experiments.EXPERIMENTS (or a test's own)
    DATA_PATH_HELP: ClassVar[str] = "pylearn2 data folder (default: $PYLEARN2_DATA_PATH)"

    seed: int = option(1234, seed, "global np.random seed (paper: 1234)")
    data_path: Optional[str] = option(None, existing_folder, "")
    output_dir: Optional[str] = option(
        None, output_folder, "the run folder: log, checkpoint, parameters, manifest and console output go here"
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check, value = field.metadata["check"], getattr(self, field.name)
            problem = check(value) if check is not None else None
            if problem:
                raise UserError(
                    "%s %s: must be %s%s"
                    % (
                        _option_name(field),
                        _shown(value),
                        problem,
                        " (%s)" % field.metadata["help"] if field.metadata["help"] else "",
                    ),
                    USAGE,
                )
        self._check_batches()
        if self.output_dir is None:
            object.__setattr__(self, "output_dir", "runs/" + self.EXPERIMENT)
        for field in dataclasses.fields(self):
            if field.metadata[FIELD_KIND] == DERIVED:
                object.__setattr__(self, field.name, field.metadata["formula"](self))

    def _check_batches(self) -> None:
        """Every set is cut into floor(N / batch_size) minibatches: none may be smaller than one batch."""
        batch_size = getattr(self, "batch_size", None)
        for field in dataclasses.fields(self):
            if field.metadata[FIELD_KIND] in (ROWS, FLAG) and hasattr(field.metadata["check"], "limit"):
                if batch_size > getattr(self, field.name):
                    raise UserError(
                        "--batch-size %d is larger than %s %d: each set is cut into whole batches, so "
                        "it would have none; use a smaller --batch-size or more rows"
                        % (batch_size, _option_name(field), getattr(self, field.name)),
                        USAGE,
                    )

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """The command line: one flag per settable field, its default the paper's value (shown by --help)."""
        doc = (cls.__doc__ or "").strip().splitlines()
        fixed_lines = [
            "%s = %s" % (f.name, _shown(f.default)) for f in dataclasses.fields(cls) if f.metadata[FIELD_KIND] == FIXED
        ]
        spec = getattr(sys.modules.get(cls.__module__), "__spec__", None)  # the module's name also under -m
        parser = ArgumentParser(
            prog="python -m " + (spec.name if spec else cls.__module__),
            description=doc[0] if doc else None,
            epilog="Fixed by the method (printed, not settable): " + "; ".join(fixed_lines) if fixed_lines else None,
        )
        for field in dataclasses.fields(cls):
            kind = field.metadata[FIELD_KIND]
            if kind not in SETTABLE:
                continue
            default = field.default
            if field.name == "output_dir":
                default = "runs/" + cls.EXPERIMENT
            help_text = cls.DATA_PATH_HELP if field.name == "data_path" else field.metadata["help"]
            if kind == ROWS:
                help_text += " (paper: %d)" % field.default
            arguments: Dict[str, Any] = {
                "default": field.default,
                "dest": field.name,
                "help": "%s (default: %s)" % (help_text, _shown(default)) if default is not None else help_text,
            }
            if isinstance(default, tuple):
                arguments.update(type=type(default[0]), nargs=len(default), metavar="N")
            elif default is not None:
                arguments["type"] = type(default)
            parser.add_argument(_option_name(field), **arguments)
        return parser

    @classmethod
    def parse(cls: Type[S], argv: Optional[Sequence[str]]) -> S:
        """The settings from a command line (``None``: ``sys.argv``) and the environment ($PROGRESS_INTERVAL);
        UserError for anything not accepted, one ``warning:`` line on stderr for each accepted value that is
        probably a mistake (:meth:`warnings`)."""
        values = vars(cls.parser().parse_args(argv))
        progress.environment_interval()
        settings = cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})
        for warning in settings.warnings():
            print("warning: " + warning, file=sys.stderr, flush=True)
        return settings

    def warnings(self) -> List[str]:
        """Accepted values that are probably mistakes: a learning rate 100 times the paper's first one or more
        (training diverges), a schedule that rises (LR_fin above LR_start; the paper's decays,
        docs/REPRODUCTION.md §1.10)."""
        found = []
        paper = next((f.default for f in dataclasses.fields(self) if f.name == "LR_start"), None)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.metadata["check"] is learning_rate and value >= 100 * paper:
                found.append(
                    "%s %s is %d times the paper's first learning rate %s: training will probably diverge"
                    % (_option_name(field), _shown(value), value / paper, _shown(paper))
                )
        if getattr(self, "LR_fin", 0) > getattr(self, "LR_start", float("inf")):
            found.append(
                "--LR-fin %s is above --LR-start %s: the learning rate rises every epoch (the paper's "
                "decays)" % (_shown(self.LR_fin), _shown(self.LR_start))
            )
        return found

    def command_line(self) -> str:
        """The command that makes (or resumes) this run: the script, every flag whose value is not the default,
        and --output-dir."""
        words = self.parser().prog.split()
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.metadata[FIELD_KIND] in SETTABLE and (field.name == "output_dir" or value != field.default):
                words += [_option_name(field)] + [_shown(v) for v in (value if isinstance(value, tuple) else [value])]
        return " ".join(shlex.quote(word) for word in words)

    @classmethod
    def from_dict(cls: Type[S], values: Dict[str, Any]) -> S:
        """The settings a run recorded (``as_dict``), checked like flags; unknown or missing names are refused."""
        settable = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError("settings %s are not settings of %s" % (", ".join(unknown), cls.EXPERIMENT))
        given = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items()
            if name in settable
        }
        settings = cls(**given)
        recomputed = {name: value for name, value in settings.as_dict().items() if name in values}
        if recomputed != {name: values[name] for name in recomputed}:
            raise UserError(
                "the recorded settings of %s are not what its code computes from them "
                "(fixed or derived values differ): the run was made by other code" % cls.EXPERIMENT
            )
        return settings

    def listing(self) -> List[Tuple[str, Any]]:
        """(name, value) of the printed settings, in the original's order."""
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.metadata[FIELD_KIND] in PRINTED]

    def print_listing(self) -> None:
        """Print ``name = value`` lines as the original does (values as Python 2's ``str`` wrote them)."""
        for name, value in self.listing():
            print("%s = %s" % (name, _shown(value)))

    def as_dict(self) -> Dict[str, Any]:
        """Every field, JSON-ready (tuples as lists): what run.json records."""
        return {
            f.name: list(v) if isinstance(v, tuple) else v
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }

    def config(self) -> Dict[str, Any]:
        """What must match for a checkpoint to be resumed: every value that changes the computation."""
        values = {name: value for name, value in self.as_dict().items() if name not in NOT_COMPARED}
        return dict(values, experiment=self.EXPERIMENT)

    def is_paper_run(self) -> bool:
        """True when every settable value (but the folders) is the paper's."""
        return all(
            getattr(self, f.name) == f.default
            for f in dataclasses.fields(self)
            if f.init and f.name not in NOT_COMPARED
        )


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(_shown, value))
    return py2_str(value) if isinstance(value, float) else str(value)
