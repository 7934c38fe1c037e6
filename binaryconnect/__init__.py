"""BinaryConnect (Courbariaux, Bengio, David 2015): binary weights during propagations, Lasagne version.

``binary_connect`` is the original's module of that name (its blocks shared with BinaryNet are re-exported
from binarynet.binary_net), ``batch_norm`` its own batch normalization, ``svhn_preprocessing`` its SVHN
GCN + LCN step (docs/REPRODUCTION.md §1.8, §1.10, §2.4-§2.6).
"""
