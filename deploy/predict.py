"""``python -m deploy.predict [RUN_DIR] --images FILE...`` (``make predict RUN=... IMAGES=...``): classify image files
with a run's packed network (``RUN_DIR/packed.npz``, written by ``make export``, or ``--model FILE``).

Images: PNG (or any format Pillow reads), grayscale for a one-channel network, RGB for three, of the network's size
(28 x 28 for MNIST, 32 x 32 for CIFAR-10 and SVHN); or IDX image files (MNIST's format, e.g. t10k-images-idx3-ubyte),
one image per row. Pixels 0..255 are scaled as the training scripts scale them (deploy.pixels). Prints one line per
image: the file (with the image's index for IDX), the class, and its score.
"""

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from datasets.mnist import IMAGE_MAGIC, read_idx
from deploy import kernels, pixels, trained
from deploy.engine import FIRST_LAYERS, PackedNetwork
from deploy.errors import DeployError
from harness.errors import ArgumentParser, UserError, command


def read_images(path: Path, shape: Tuple[int, ...]) -> np.ndarray:
    """uint8 images (N,) + shape (C, H, W) from an IDX file (N, H, W) or an image file Pillow reads."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == IMAGE_MAGIC.to_bytes(4, "big"):
        try:
            images = read_idx(path, IMAGE_MAGIC)[:, None]
        except UserError as error:
            raise UserError("%s is not a complete IDX image file: %s" % (path, error)) from error
    else:
        try:
            from PIL import Image, UnidentifiedImageError
        except ImportError:
            raise UserError(
                "reading %s needs Pillow (Debian: apt-get install python3-pil; or pip install Pillow)" % path
            ) from None
        try:
            with Image.open(path) as image:
                values = np.asarray(image.convert("L" if shape[0] == 1 else "RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise UserError("%s is neither an IDX image file nor an image Pillow reads (%s)" % (path, error)) from None
        images = values[None, None] if values.ndim == 2 else values.transpose(2, 0, 1)[None]
    if images.shape[1:] != tuple(shape):
        raise UserError(
            "%s holds images of %s (channels, rows, columns); the network takes %s: resize them first"
            % (path, "x".join(map(str, images.shape[1:])), "x".join(map(str, shape)))
        )
    return images


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m deploy.predict", description=__doc__.splitlines()[0])
    trained.add_run_arguments(parser, "a run folder holding packed.npz (make export)")
    parser.add_argument("--images", nargs="+", type=Path, required=True, metavar="FILE", help="PNG or IDX image files")
    parser.add_argument("--model", type=Path, help="a packed file (default: RUN_DIR/packed.npz)")
    parser.add_argument("--backend", choices=kernels.BACKENDS, default="auto", help="popcount backend (default: auto)")
    parser.add_argument("--threads", type=int, help="threads of the C kernel (default: the usable CPUs)")
    parser.add_argument(
        "--first-layer",
        choices=FIRST_LAYERS,
        default="float",
        help="float (Theano's scores, bit for bit; default), sgemm (the same, always through the BLAS) or pixels "
        "(exact integers, docs/EXPORT.md)",
    )
    args = parser.parse_args(argv)
    model = args.model or trained.chosen_folder(args) / "packed.npz"
    if not model.is_file():
        raise UserError(
            "%s does not exist: run `make export RUN=%s` first, or pass --model FILE" % (model, model.parent)
        )
    try:
        network = PackedNetwork.load(model, args.backend, threads=args.threads, first_layer=args.first_layer)
        for path in args.images:
            if not path.is_file():
                raise UserError("%s is not a file" % path)
            images = read_images(path, network.input_shape)
            scores = network.forward(pixels.scale(images))
            labels = np.argmax(scores, axis=1)
            for index, (label, row) in enumerate(zip(labels, scores)):
                where = "%s[%d]" % (path, index) if len(images) > 1 else str(path)
                print("%s: %d (score %.4f)" % (where, label, row[label]))
    except DeployError as error:
        raise UserError(str(error)) from error


if __name__ == "__main__":
    raise SystemExit(main())
