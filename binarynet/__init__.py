"""BinaryNet (Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016): weights and activations in {-1, +1}."""
