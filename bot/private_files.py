"""Files only the service's own user may read: ``var/`` (0700) and what lives there — the
SQLite database with its WAL and shared-memory files, the secret key — (0600).

The database holds residents' messages, phones and photos, and the key decrypts Zalo tokens:
another account on the machine must not read them. Modes are set at creation (SQLite gives its
``-wal``/``-shm`` files the database file's mode, so creating that file 0600 first covers them)
and tightened at start-up when an older install left them readable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 != mode:
            path.chmod(mode)
    except FileNotFoundError:
        return
    except PermissionError:
        log.warning("cannot restrict %s to mode %o: not its owner", path, mode)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only; tighten it if it
    exists."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (an empty file is created if missing)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    _tighten(path, FILE_MODE)
    return path


def private_sqlite(database: str) -> None:
    """A SQLite database file: its directory created private when missing, the file and the
    WAL/shared-memory files beside it 0600."""
    path = Path(database)
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        _tighten(path.with_name(path.name + suffix), FILE_MODE)
