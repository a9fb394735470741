"""stackkit's per-user state: generated secrets, deployed outputs, the env cache.

Kept light (standard library only) because `stackkit env` reads it during shell start-up.
Layout: ``$STACKKIT_STATE_DIR`` or ``$XDG_STATE_HOME/stackkit`` or ``~/.local/state/stackkit``,
then one folder per stack name. Folders are created owner-only (0700) whatever the umask, files
0600. A file is trusted only when it is a regular file owned by this user (or root) that nobody
else can write: what it holds ends up in shells and in the Collector's configuration. A folder
that others can write draws a warning (once per folder).
"""

from __future__ import annotations

import os
import stat
import warnings

from .errors import StackkitWarning, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

TOKEN_FILE = "otlp-token"
OUTPUTS_FILE = "outputs.json"
MAX_SECRET_BYTES = 4096
MAX_OUTPUTS_BYTES = 1 << 20

_warned: set[str] = set()


def state_root_str() -> str:
    """The folder holding every stack's state, as a string (no pathlib on the fast path)."""
    if explicit := os.environ.get("STACKKIT_STATE_DIR"):
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "stackkit")


def state_root() -> Path:
    """The folder holding every stack's state."""
    from pathlib import Path

    return Path(state_root_str())


def stack_dir(name: str) -> Path:
    """The state folder of one stack."""
    return state_root() / name


def _owned(st: os.stat_result) -> bool:
    return st.st_uid in (os.getuid(), 0) and not st.st_mode & 0o022


def check_folder(path: str) -> bool:
    """True when only this user can change ``path``; warn once when others can."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if _owned(st):
        return True
    if path not in _warned:
        _warned.add(path)
        warnings.warn(
            f"{path} can be changed by other users (mode {stat.S_IMODE(st.st_mode):04o}, owner "
            f"uid {st.st_uid}): it holds stackkit's secrets; run `chmod 700 {path}`",
            StackkitWarning,
            stacklevel=2,
        )
    return False


def private_folder(path: Path) -> None:
    """Create ``path`` and its missing parents owner-only (0700), whatever the umask."""
    missing = []
    here = path
    while not os.path.lexists(here) and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask; chmod's is not
    _check_state_folders(str(path))


def _check_state_folders(folder: str) -> None:
    """Warn about ``folder`` and each parent up to the state root that others can change."""
    root = os.path.abspath(state_root_str())
    here = os.path.abspath(folder)
    while True:
        check_folder(here)
        if here == root or not here.startswith(root + os.sep):
            return
        here = os.path.dirname(here)


def write_private(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` readable by the owner only, replacing it atomically."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        private_folder(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise StateError(
            f"cannot write {path}: {e.strerror or e}; stackkit keeps its state there "
            "(set STACKKIT_STATE_DIR to use another folder)"
        ) from None


def read_private(path: str | Path, max_bytes: int) -> bytes | None:
    """A trusted state file's bytes, None when it does not exist; StateError when untrusted.

    Takes a plain string too: the `stackkit env` fast path does not import pathlib.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise StateError(
            f"cannot read {path}: part of the path is not a folder; check STACKKIT_STATE_DIR"
        ) from None
    except OSError as e:
        if os.path.islink(path):
            raise StateError(
                f"{path} is a symbolic link; stackkit refuses links for its secrets and state "
                "(whoever can change the link chooses what stackkit reads): replace it with the "
                "file itself, or delete it"
            ) from None
        raise StateError(
            f"cannot read {path}: {e.strerror or e}; fix its permissions or delete it"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise StateError(f"{path} is not a regular file: delete it")
    with os.fdopen(fd, "rb") as f:
        if not _owned(st):
            raise StateError(
                f"{path} can be changed by other users (mode {stat.S_IMODE(st.st_mode):04o}, "
                f"owner uid {st.st_uid}); stackkit does not trust it: delete it"
            )
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise StateError(f"{path} is larger than {max_bytes} bytes: delete it")
    _check_state_folders(os.path.dirname(os.fspath(path)))
    return data


def _clean_secret(value: str, where: str) -> str:
    if not value or not value.isprintable() or value != value.strip():
        raise StateError(
            f"{where} does not hold a usable secret (empty, or with spaces at either end or "
            "control characters)"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StateError(f"{where} is not UTF-8 text") from None
    return value


def read_secret(name: str, filename: str, token: bool = False) -> str | None:
    """A stored secret, or None when it was never generated.

    ``token``: it is the OTLP bearer token, which must also pass :func:`tokens.token_problem`.
    """
    path = stack_dir(name) / filename
    data = read_private(path, MAX_SECRET_BYTES)
    if data is None:
        return None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise StateError(
            f"{path} is not UTF-8 text: delete it and stackkit generates a new one"
        ) from None
    try:
        return _usable(text, str(path), token)
    except StateError as e:
        raise StateError(f"{e}; delete it and stackkit generates a new one") from None


def _usable(value: str, where: str, token: bool) -> str:
    if not token:
        return _clean_secret(value, where)
    from .tokens import token_problem

    if problem := token_problem(value):
        raise StateError(f"{where} does not hold a usable token: {problem}")
    return value


def secret(name: str, filename: str, env_var: str | None = None, token: bool = False) -> str:
    """The secret from ``env_var`` if set, else the stored one, generating it on first use.

    ``token``: it is the OTLP bearer token; a value from the variable or the file that could not
    travel in OTEL_EXPORTER_OTLP_HEADERS (or is too short to be a secret) is refused.
    """
    if env_var and (value := os.environ.get(env_var)):
        where = f"the environment variable {env_var}"
        if not token:
            return _clean_secret(value, where)
        from .tokens import HOW_TO_MAKE

        try:
            return _usable(value, where, token)
        except StateError as e:
            raise StateError(
                f"{e}. Set {env_var} to such a token ({HOW_TO_MAKE}), or unset it and stackkit "
                "generates one"
            ) from None
    if (stored := read_secret(name, filename, token)) is not None:
        return stored
    import secrets

    from .tokens import token_problem

    value = secrets.token_urlsafe(32)  # 43 of A-Z a-z 0-9 - _: a usable token
    while token and token_problem(value):  # pragma: no cover - fewer than 6 distinct of 43
        value = secrets.token_urlsafe(32)
    write_private(stack_dir(name) / filename, value + "\n")
    return value


def read_outputs(name: str) -> dict[str, Any] | None:
    """What the last successful `stackkit up` reported (endpoints, URLs), if any."""
    import json

    path = stack_dir(name) / OUTPUTS_FILE
    data = read_private(path, MAX_OUTPUTS_BYTES)
    if data is None:
        return None
    try:
        outputs: dict[str, Any] = _check_outputs(json.loads(data.decode("utf-8")))
    except (ValueError, TypeError) as e:
        raise StateError(
            f"{path} is not what `stackkit up` writes ({e}); delete it, or run `stackkit up`"
        ) from None
    return outputs


def _check_outputs(outputs: object) -> dict[str, Any]:
    from .fields import url

    if not isinstance(outputs, dict):
        raise TypeError("not a JSON object")
    for key in ("grafana_url", "prometheus_url"):
        if key in outputs:
            url(_str(outputs[key], key))
    endpoints = outputs.get("otlp_endpoints", {})
    if not isinstance(endpoints, dict):
        raise TypeError("otlp_endpoints is not an object")
    for protocol, value in endpoints.items():
        url(_str(value, f"otlp_endpoints.{protocol}"), path=protocol != "grpc")
    probes = outputs.get("probe_urls", {})
    if not isinstance(probes, dict):
        raise TypeError("probe_urls is not an object")
    for component, value in probes.items():
        url(_str(value, f"probe_urls.{component}"), path=True)
    return {str(k): v for k, v in outputs.items()}


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value
