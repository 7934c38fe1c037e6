"""Download one file from a list of mirrors: resumable, checksum-verified, and atomic.

The bytes go to ``<dest>.part`` (resumed with an HTTP Range request after an interruption) and are renamed
to ``dest`` only after their checksum matched, so a file under its final name is always a verified one. When no
mirror can be reached, the error says which file to put where by hand (a copy placed there is verified and used);
:func:`fetch_all` fetches several and, offline, names every file that is missing in one message.
"""

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, NamedTuple, Sequence

from harness.errors import UserError
from harness.files import WRITE_FAILURES, Checksum, file_digest, write_failure
from harness.progress import Progress

BLOCK = 1 << 16
MB = 1e6


class Unreachable(UserError):
    """No mirror gave a verified copy of ``dest`` (offline, or every mirror failed): ``failures`` says how. Only
    when some mirror could not be reached is being offline suggested; when every mirror answered with the wrong
    bytes, the (discarded) download is to be retried."""

    def __init__(
        self, dest: Path, urls: Sequence[str], checksum: Checksum, failures: List[str], fix: str, mismatches: int = 0
    ) -> None:
        self.dest, self.urls, self.checksum = dest, urls, checksum
        self.reasons = "%s from %s" % (dest.name, "; ".join(failures))
        self.offline = mismatches < len(failures)
        if self.offline:
            advice = "Offline? Put the published file %s by hand, then run `%s`: it checks its %s and uses it" % (
                _placed(self),
                fix,
                checksum.algorithm,
            )
        else:
            advice = (
                "The bytes received were not the published file (they were discarded): run `%s` again to "
                "download afresh, or put the published file %s by hand" % (fix, _placed(self))
            )
        super().__init__("could not download %s. %s" % (self.reasons, advice))


def _placed(error: Unreachable) -> str:
    return "%s (from %s, %s %s) into %s" % (
        error.dest.name,
        error.urls[0],
        error.checksum.algorithm,
        error.checksum.hexdigest,
        error.dest.parent,
    )


class Wanted(NamedTuple):
    """One file to fetch: its mirrors, where it goes, its checksum."""

    urls: Sequence[str]
    dest: Path
    checksum: Checksum


def _download(url: str, part: Path) -> None:
    """Append ``url``'s bytes to ``part``, starting where an earlier attempt stopped."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": "bytes=%d-" % start} if start else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        if start and response.status != 206:  # the server ignored the Range header: start again
            start = 0
        total = start + int(response.headers.get("Content-Length") or 0)
        progress = Progress("downloading " + part.name[: -len(".part")], max(total, 1) / MB, "MB")
        progress.update(start / MB)
        with open(part, "ab" if start else "wb") as f:
            for block in iter(lambda: response.read(BLOCK), b""):
                f.write(block)
                progress.update(len(block) / MB)
        progress.close()


def fetch(urls: Sequence[str], dest: Path, checksum: Checksum, fix: str) -> Path:
    """Make ``dest`` a verified copy of the file at any of ``urls`` (tried in order); skip if it already is.
    ``fix`` is the command that fetches it (named in the message when no mirror answers)."""
    dest = Path(dest)
    for path in (dest, dest.with_name(dest.name + ".part")):
        if path.exists() and not path.is_file():
            raise UserError(
                "%s is in the way of the download (not a regular file): remove it, then run `%s`" % (path, fix)
            )
    if dest.is_file() and file_digest(dest, checksum.algorithm) == checksum.hexdigest:
        print("  %s: present, checksum ok" % dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_file() and file_digest(part, checksum.algorithm) == checksum.hexdigest:
        os.replace(part, dest)  # a finished download that was interrupted before its rename
        return dest
    failures, mismatches = [], 0
    for url in urls:
        print("  %s <- %s" % (dest, url), flush=True)
        try:
            _download(url, part)
        except OSError as error:
            if error.errno in WRITE_FAILURES and not isinstance(error, urllib.error.URLError):
                raise write_failure(error, part) from None
            reason = getattr(error, "reason", None) or error.strerror or error
            failures.append("%s (%s)" % (url, reason))
            continue
        if file_digest(part, checksum.algorithm) == checksum.hexdigest:
            os.replace(part, dest)
            return dest
        failures.append("%s (%s checksum mismatch)" % (url, checksum.algorithm))
        mismatches += 1
        part.unlink()
    raise Unreachable(dest, urls, checksum, failures, fix, mismatches)


def fetch_all(wanted: Sequence[Wanted], fix: str) -> List[Path]:
    """``fetch`` each file (skipping those already verified); when some cannot be downloaded, one UserError names
    every one of them and where each goes, after the others were fetched."""
    fetched, unreachable = [], []
    for item in wanted:
        try:
            fetched.append(fetch(item.urls, item.dest, item.checksum, fix))
        except Unreachable as error:
            unreachable.append(error)
    if len(unreachable) == 1:
        raise unreachable[0]
    if unreachable:
        offline = "Offline? " if any(error.offline for error in unreachable) else ""
        raise UserError(
            "could not download %d files (%s). %sPut the published files by hand: %s; then run "
            "`%s`: it checks their checksums and uses them"
            % (
                len(unreachable),
                "; ".join(error.reasons for error in unreachable),
                offline,
                "; ".join(map(_placed, unreachable)),
                fix,
            )
        )
    return fetched
