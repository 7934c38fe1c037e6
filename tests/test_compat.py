"""The compatibility shims (compat/): each fixes one breakage of the 2016 stack on today's packages."""

import compat  # noqa: F401
from compat import numpy_aliases, selfcheck, theano_flags

import numpy as np
import pytest


def test_removed_numpy_aliases_are_the_builtins():
    for name, builtin in numpy_aliases.REMOVED_ALIASES.items():
        assert getattr(np, name) is builtin
    assert np.dtype(getattr(np, "bool")) == np.bool_  # what Theano's dtype mapping asks for


@pytest.mark.parametrize(
    "given, expected",
    [
        (None, "floatX=float32,blas.ldflags=-lopenblas"),
        ("device=cuda", "floatX=float32,blas.ldflags=-lopenblas,device=cuda"),
        ("floatX=float64, blas.ldflags=", "floatX=float64, blas.ldflags="),
    ],
)
def test_theano_flag_defaults_never_override_the_user(given, expected):
    environ = {} if given is None else {"THEANO_FLAGS": given}
    theano_flags.set_defaults(environ)
    assert environ["THEANO_FLAGS"] == expected


def test_theano_runs_in_float32_with_openblas():
    import theano

    assert theano.config.floatX == "float32" and theano.config.blas.ldflags == "-lopenblas"


def test_lasagne_max_pooling_runs_through_the_downsample_shim():
    import lasagne
    import theano
    import theano.tensor as T

    x = T.tensor4("x")
    layer = lasagne.layers.MaxPool2DLayer(lasagne.layers.InputLayer((None, 1, 4, 5), x), 2)
    f = theano.function([x], lasagne.layers.get_output(layer))
    X = np.random.RandomState(0).normal(size=(2, 1, 4, 5)).astype(np.float32)
    expected = X[:, :, :4, :4].reshape(2, 1, 2, 2, 2, 2).max(axis=(3, 5))  # ignore_border drops column 5
    np.testing.assert_array_equal(f(X), expected)


def test_selfcheck_reports_versions_and_fails_without_gpu_when_required(capsys):
    assert selfcheck.main([]) == 0
    out = capsys.readouterr().out
    assert "NumPy    %s" % np.__version__ in out and "Theano   1.0.5" in out and "Lasagne  0.1" in out
    if selfcheck.gpu_name() is None:
        assert selfcheck.main(["--require-gpu"]) == 1
        assert "--gpus all" in capsys.readouterr().err
