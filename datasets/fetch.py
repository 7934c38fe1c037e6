"""Download one file from a list of mirrors: resumable, checksum-verified, and atomic.

The bytes go to ``<dest>.part`` (resumed with an HTTP Range request after an interruption) and are renamed
to ``dest`` only after their checksum matched, so a file under its final name is always a verified one.
"""
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from harness.errors import UserError
from harness.files import Checksum, file_digest

BLOCK = 1 << 16


def _progress(name: str, done: int, total: int) -> None:
    if total > 0:
        sys.stderr.write("\r  %s: %5.1f %% of %.1f MB" % (name, 100.0 * done / total, total / 1e6))
    else:
        sys.stderr.write("\r  %s: %.1f MB" % (name, done / 1e6))
    sys.stderr.flush()


def _download(url: str, part: Path) -> None:
    """Append ``url``'s bytes to ``part``, starting where an earlier attempt stopped."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": "bytes=%d-" % start} if start else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        if start and response.status != 206:  # the server ignored the Range header: start again
            start = 0
        total = start + int(response.headers.get("Content-Length") or 0)
        with open(part, "ab" if start else "wb") as f:
            done, shown = start, 0.0
            for block in iter(lambda: response.read(BLOCK), b""):
                f.write(block)
                done += len(block)
                if time.monotonic() - shown > 0.5:
                    _progress(part.name[:-len(".part")], done, total)
                    shown = time.monotonic()
            _progress(part.name[:-len(".part")], done, total)
            sys.stderr.write("\n")


def fetch(urls: Sequence[str], dest: Path, checksum: Checksum) -> Path:
    """Make ``dest`` a verified copy of the file at any of ``urls`` (tried in order); skip if it already is."""
    dest = Path(dest)
    if dest.is_file() and file_digest(dest, checksum.algorithm) == checksum.hexdigest:
        print("  %s: present, checksum ok" % dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_file() and file_digest(part, checksum.algorithm) == checksum.hexdigest:
        os.replace(part, dest)  # a finished download that was interrupted before its rename
        return dest
    failures = []
    for url in urls:
        print("  %s <- %s" % (dest, url))
        try:
            _download(url, part)
        except (urllib.error.URLError, OSError) as error:
            failures.append("%s: %s" % (url, error))
            continue
        if file_digest(part, checksum.algorithm) == checksum.hexdigest:
            os.replace(part, dest)
            return dest
        failures.append("%s: %s checksum mismatch" % (url, checksum.algorithm))
        part.unlink()
    raise UserError("could not download %s:\n  %s" % (dest.name, "\n  ".join(failures)))
