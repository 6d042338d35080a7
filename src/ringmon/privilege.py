"""`-Z USER`: go on as USER, with no capability left, once the packet sockets and output files are open (as
tcpdump does), so a bug in code that reads hostile packets cannot act as root."""
from __future__ import annotations

import os
import pwd

from ringcore import RingcoreError


def user_account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RingcoreError(f"-Z {name}: no such user") from None


def require_access(account: pwd.struct_passwd, needs: list[tuple[str, int, str]]) -> None:
    """Checked before anything opens, as (path, os.access mode, why it is needed): asked of the kernel in a
    child that becomes that user, so ACLs, groups and read-only mounts all count."""
    child = os.fork()
    if child == 0:
        try:
            _become(account)
            failed = next((index for index, (path, mode, _) in enumerate(needs) if not os.access(path, mode)), -1)
            os._exit(failed + 1)
        except BaseException:
            os._exit(255)
    _, status = os.waitpid(child, 0)
    failed = os.waitstatus_to_exitcode(status) - 1
    if failed == 254:
        raise RingcoreError(f"-Z {account.pw_name}: switching user needs CAP_SETUID and CAP_SETGID")
    if failed >= 0:
        path, _, why = needs[failed]
        raise RingcoreError(f"-Z {account.pw_name}: {account.pw_name} cannot {why}: {path}")


def installation_needs() -> list[tuple[str, int, str]]:
    """Python imports modules lazily (Textual its drivers, for one): after the switch, the user must still
    read the interpreter's library and where ringmon is installed, or the first late import fails."""
    directories = {os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(__file__))}
    return [(directory, os.R_OK | os.X_OK, "read the Python installation ringmon runs from")
            for directory in sorted(directories)]


def drop_privileges(account: pwd.struct_passwd) -> None:
    """Become `account` for good: groups, gid, then uid; leaving uid 0 clears every capability. glibc applies
    each change to every thread, the C capture and drain threads included."""
    try:
        _become(account)
    except PermissionError:
        raise RingcoreError(f"-Z {account.pw_name}: switching user needs CAP_SETUID and CAP_SETGID") from None
    if os.getuid() != account.pw_uid or os.geteuid() != account.pw_uid:
        raise RingcoreError(f"-Z {account.pw_name}: still running as uid {os.geteuid()}")


def _become(account: pwd.struct_passwd) -> None:
    os.initgroups(account.pw_name, account.pw_gid)
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
