"""Find numeric arrays inside a MATLAB v5 .mat file without loading the file (SVHN's format; docs/REPRODUCTION.md §3.3).

A v5 file is a 128-byte header ending in the version 0x0100 and the byte-order mark 'IM' (little endian) or
'MI', then one data element per variable: an 8-byte tag (type, byte count; or a 4-byte "small element" tag
with at most 4 data bytes) and its content. A variable is an miMATRIX element (array flags, dimensions, name,
real part) or, as MATLAB 7 saves by default, an miCOMPRESSED element holding a zlib stream of an miMATRIX
element. Only the bytes before a variable's real part are parsed; the data itself is read by the caller at
the returned offset (uncompressed) or streamed out of the zlib stream by :func:`copy_data`.
"""

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterator, Tuple

import numpy as np

from harness.errors import UserError

HEADER = 128
MI_MATRIX, MI_COMPRESSED = 14, 15
MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
MX_NUMERIC = {
    6: "double",
    7: "single",
    8: "int8",
    9: "uint8",
    10: "int16",
    11: "uint16",
    12: "int32",
    13: "uint32",
    14: "int64",
    15: "uint64",
}
COMPLEX_FLAG = 0x0800
HEAD_BYTES = 4096  # more than the flags, dimensions, name and data tag of any variable we accept
BLOCK = 1 << 20


@dataclass(frozen=True)
class MatArray:
    """One variable. Its real part starts ``data_offset`` bytes into the variable's content, which lies at
    ``content_offset`` in the file (``content_nbytes`` long) or, when ``compressed``, is the output of the
    zlib stream stored there. The data is column-major (MATLAB's order)."""

    name: str
    mx_class: str
    dims: Tuple[int, ...]
    dtype: np.dtype
    content_offset: int
    content_nbytes: int
    compressed: bool
    data_offset: int

    @property
    def data_nbytes(self) -> int:
        return int(np.prod(self.dims, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class _File:
    path: Path
    fix: str

    def error(self, problem: str) -> UserError:
        return UserError("%s %s: delete it and run `%s`" % (self.path, problem, self.fix))


def _element(raw: bytes, pos: int, order: str, source: _File) -> Tuple[int, int, int, int]:
    """(type, byte count, data offset, next element offset) of the element at ``raw[pos:]``."""
    if pos + 8 > len(raw):
        raise source.error("ends inside a data element")
    first, second = struct.unpack_from(order + "II", raw, pos)
    if first >> 16:  # small element: type and count share the first word, the data is the second
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    return first, second, pos + 8, pos + 8 + (second + 7) // 8 * 8


def _parse_matrix(head: bytes, order: str, source: _File) -> Tuple[str, str, Tuple[int, ...], np.dtype, int]:
    """(name, class, dims, dtype, data offset) from the first bytes of an miMATRIX element's content."""
    _, _, flags_at, pos = _element(head, 0, order, source)
    flags = struct.unpack_from(order + "I", head, flags_at)[0]
    mx_class = MX_NUMERIC.get(flags & 0xFF)
    if mx_class is None or flags & COMPLEX_FLAG:
        raise source.error("holds a variable that is not a real numeric array (class %d)" % (flags & 0xFF))
    _, dims_nbytes, dims_at, pos = _element(head, pos, order, source)
    dims = tuple(int(d) for d in struct.unpack_from(order + "%di" % (dims_nbytes // 4), head, dims_at))
    _, name_nbytes, name_at, pos = _element(head, pos, order, source)
    name = head[name_at : name_at + name_nbytes].decode("ascii", "replace")
    data_type, data_nbytes, data_at, _ = _element(head, pos, order, source)
    if data_type not in MI_DTYPES:
        raise source.error("stores variable %r as unsupported data type %d" % (name, data_type))
    dtype = np.dtype(order + MI_DTYPES[data_type])
    if data_nbytes != int(np.prod(dims, dtype=np.int64)) * dtype.itemsize:
        raise source.error(
            "holds %d bytes of variable %r, whose dimensions %s need %d"
            % (data_nbytes, name, dims, int(np.prod(dims, dtype=np.int64)) * dtype.itemsize)
        )
    return name, mx_class, dims, dtype, data_at


def _inflate(f: BinaryIO, offset: int, nbytes: int, skip: int, count: int, source: _File) -> Iterator[bytes]:
    """Bytes ``skip`` to ``skip + count`` of the output of the zlib stream at ``offset`` (fewer if the stream
    ends first), in pieces."""
    f.seek(offset)
    stream, left, produced, pending = zlib.decompressobj(), nbytes, 0, b""
    while count > 0 and not stream.eof:
        if not pending:
            pending = f.read(min(BLOCK, left))
            if not pending:
                raise source.error("is truncated inside a compressed variable")
            left -= len(pending)
        try:
            out = stream.decompress(pending, BLOCK)  # at most 1 MiB out, whatever the ratio
        except zlib.error as error:
            raise source.error("is corrupt: %s" % error) from error
        pending = stream.unconsumed_tail
        if produced + len(out) > skip:
            piece = out[max(0, skip - produced) :][:count]
            count -= len(piece)
            yield piece
        produced += len(out)


def _header_order(f: BinaryIO, source: _File) -> str:
    header = f.read(HEADER)
    if len(header) < HEADER or header[126:128] not in (b"IM", b"MI"):
        raise source.error("is not a MATLAB v5 .mat file")
    order = "<" if header[126:128] == b"IM" else ">"
    if struct.unpack(order + "H", header[124:126])[0] != 0x0100:
        raise source.error("is not a MATLAB v5 .mat file (version field %r)" % header[124:126])
    return order


def locate(path: Path, fix: str) -> Dict[str, MatArray]:
    """Every variable of a v5 .mat file, by name (all must be real numeric arrays); ``fix`` goes in errors."""
    source = _File(Path(path), fix)
    size = source.path.stat().st_size
    found = {}
    with open(path, "rb") as f:
        order = _header_order(f, source)
        offset = HEADER
        while offset < size:
            f.seek(offset)
            element_type, nbytes, data_at, _ = _element(f.read(8), 0, order, source)
            content = offset + data_at
            if content + nbytes > size:
                raise source.error("is truncated (a variable runs past the end of the file)")
            if element_type == MI_COMPRESSED:
                head = b"".join(_inflate(f, content, nbytes, 0, HEAD_BYTES, source))
                inner_type, inner_nbytes, inner_at, _ = _element(head, 0, order, source)
                if inner_type != MI_MATRIX:
                    raise source.error("holds a compressed element that is not an array")
                name, mx_class, dims, dtype, data_at = _parse_matrix(head[inner_at:], order, source)
                found[name] = MatArray(name, mx_class, dims, dtype, content, nbytes, True, inner_at + data_at)
            elif element_type == MI_MATRIX:
                f.seek(content)
                name, mx_class, dims, dtype, data_at = _parse_matrix(f.read(min(nbytes, HEAD_BYTES)), order, source)
                found[name] = MatArray(name, mx_class, dims, dtype, content, nbytes, False, data_at)
            offset = content + nbytes
    return found


def copy_data(path: Path, array: MatArray, out: BinaryIO, fix: str) -> None:
    """Write ``array``'s raw data bytes (column-major) to ``out``, at most 1 MiB in memory at a time."""
    source = _File(Path(path), fix)
    with open(path, "rb") as f:
        if array.compressed:
            written = 0
            for piece in _inflate(
                f, array.content_offset, array.content_nbytes, array.data_offset, array.data_nbytes, source
            ):
                out.write(piece)
                written += len(piece)
            if written < array.data_nbytes:
                raise source.error("is corrupt: compressed variable %r ends early" % array.name)
            return
        f.seek(array.content_offset + array.data_offset)
        left = array.data_nbytes
        while left:
            block = f.read(min(BLOCK, left))
            if not block:
                raise source.error("is truncated inside variable %r" % array.name)
            out.write(block)
            left -= len(block)


def read_array(path: Path, array: MatArray, fix: str) -> np.ndarray:
    """A whole variable as an array of its dimensions: for small ones (label vectors), not images."""
    buffer = io.BytesIO()
    copy_data(path, array, buffer, fix)
    return np.frombuffer(buffer.getbuffer(), dtype=array.dtype).reshape(array.dims, order="F")
