"""``python -m deploy.evaluate RUN_DIR`` (``make evaluate RUN=...``): the test error of a finished run's best epoch.

Rebuilds the network from ``run.json``, loads the best epoch's parameters, and runs the deterministic test pass on
the run's test set exactly as the training loop does (§1.7, §1.10: floor(N/B) minibatches of --batch-size); the
result equals the test error the run logged for that epoch, digit for digit, on the machine and Theano device that
trained it. ``--engine packed`` runs the exported XNOR-popcount network instead (deploy.engine; BinaryNet only).
"""

import compat  # noqa: F401  (must precede theano and lasagne)
from compat.number_format import py2_str

from typing import Any, List, Optional, Tuple

import numpy as np

from binarynet import binary_net
from deploy import trained
from deploy.engine import PackedNetwork
from deploy.errors import DeployError
from deploy.export import export_arrays
from deploy.stages import not_runnable_reason, read_stages
from harness.errors import ArgumentParser, UserError, command
from harness.progress import progress


def packed_test_function(net: Any) -> Any:
    """A ``val_fn`` of the packed engine: (loss, error fraction) of a minibatch, in float32 as Theano's."""
    reason = not_runnable_reason(read_stages(net))
    if reason is not None:
        raise UserError("--engine packed needs a deterministic BinaryNet: %s" % reason)
    try:
        packed = PackedNetwork.from_arrays(export_arrays(net))
    except DeployError as error:
        raise UserError(str(error)) from error

    def val_fn(X: np.ndarray, y: np.ndarray) -> Tuple[np.float32, np.float32]:
        scores = packed.forward(X)
        loss = np.mean(np.square(np.maximum(np.float32(0), np.float32(1) - y * scores)), dtype=np.float32)
        wrong = np.count_nonzero(np.argmax(scores, axis=1) != np.argmax(y, axis=1))
        return loss, np.float32(wrong) / np.float32(len(X))

    return val_fn


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m deploy.evaluate", description=__doc__.splitlines()[0])
    trained.add_run_arguments(parser)
    parser.add_argument("--data-path", help="data folder (default: $PYLEARN2_DATA_PATH, or the script's own default)")
    parser.add_argument(
        "--engine",
        choices=("theano", "packed"),
        default="theano",
        help="Theano's deterministic pass (default) or the packed XNOR-popcount engine",
    )
    parser.add_argument("--unfinished", action="store_true", help="accept an unfinished run (its best epoch so far)")
    args = parser.parse_args(argv)
    run = trained.open_run(trained.chosen_folder(args), args.data_path, finished=not args.unfinished)
    net = trained.trained_network(run)
    print("%s: %s, best epoch %d of %d" % (run.folder, run.settings.EXPERIMENT, run.saved.best_epoch, run.saved.epoch))
    val_fn = binary_net.compile_test_function(net) if args.engine == "theano" else packed_test_function(net)
    test_set = trained.test_set(run)
    test_err, test_loss = binary_net.val_epoch(
        val_fn, test_set.X, test_set.y, run.settings.batch_size, lambda n: progress(range(n), "evaluating", n)
    )
    print("  test loss:                     %s" % py2_str(test_loss))
    print("  test error rate:               %s%%" % py2_str(test_err))
    logged = run.saved.loop["test_err"]
    print(
        "  logged for epoch %d:           %s%% (%s)"
        % (run.saved.best_epoch, py2_str(logged), "the same" if float(test_err) == logged else "DIFFERENT")
    )


if __name__ == "__main__":
    raise SystemExit(main())
