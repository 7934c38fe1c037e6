"""BinaryConnect (Courbariaux, Bengio, David 2015): binary weights during propagations, Lasagne version."""
