"""Who may open the controller's SQLite database: its owner.

The database lives in the service's state directory (``/var/lib/sitegate``, which systemd
gives to the service user ``sitegate``). A site-manager command run as root there would
leave root-owned files behind (the database itself on a first run, its ``-wal`` and ``-shm``
files on every run), which the service then cannot write: the controller would stop
storing check-ins. So a command run as root in another user's state directory refuses and
names the user to run it as (``sudo -u sitegate sitegate-controller ...``), and a user who
may not write there is told so, instead of SQLite's "unable to open database file".
PostgreSQL needs none of this: the server owns its files.
"""

from __future__ import annotations

import os
import pwd
import shlex
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.store import Store, open_store

PROG = "sitegate-controller"


class WrongUser(ControllerError):
    """Codes: ``wrong_user`` (root in another user's state directory), ``no_access`` (this
    user may not write the database)."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for PostgreSQL or in-memory."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # open_store says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(os.path.abspath(parsed.database))


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_user(database: Path, command: Sequence[str] = ()) -> None:
    """Raise ``WrongUser`` unless this process may use ``database`` without leaving files
    its owner cannot write. Its owner: the database file's, else its directory's; a
    directory that does not exist yet is created by whoever opens it first."""
    owned = database if database.exists() else database.parent
    if not owned.exists():
        _check_creatable(database.parent)
        return
    owner = owned.stat().st_uid
    me = os.geteuid()
    if owner == me:
        return
    name = user_name(owner)
    again = shlex.join(["sudo", "-u", name, PROG, *command])
    if me == 0:
        raise WrongUser(
            "wrong_user",
            f"the database {database} belongs to {name}; as root this command would leave "
            f"root-owned files there that the controller cannot write. Run it as {name}: "
            f"{again}",
        )
    writable = os.access(database.parent, os.W_OK | os.X_OK) and (
        not database.exists() or os.access(database, os.R_OK | os.W_OK)
    )
    if not writable:
        raise WrongUser(
            "no_access",
            f"cannot open the database {database}: it belongs to {name} and "
            f"{user_name(me)} may not write there. Run it as {name}: {again}",
        )


def _check_creatable(directory: Path) -> None:
    """The state directory does not exist yet: whoever opens the database creates it, if
    they may write in the nearest directory that exists."""
    parent = directory.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if os.geteuid() != 0 and not os.access(parent, os.W_OK | os.X_OK):
        raise WrongUser(
            "no_access",
            f"the database directory {directory} does not exist, and "
            f"{user_name(os.geteuid())} may not create it in {parent}: start the controller "
            "service first (systemd creates it), or choose a directory of yours with "
            "init-site --state-dir",
        )


def open_database(config: ControllerConfig, command: Sequence[str] = ()) -> Store:
    """``open_store`` for a command line: first ``check_user`` on a SQLite database."""
    path = sqlite_path(config.database.url)
    if path is not None:
        check_user(path, command)
    return open_store(config.database.url)
