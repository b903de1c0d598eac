"""Environment cards: what a trial ran on, so that a result can be reproduced or explained.

A card is plain JSON data: Python and package versions, the operating system, CPU,
memory, GPUs, the git state of the working directory (commit, dirty flag, a size-capped
diff) and the command line. Cards are stored once per distinct environment (keyed by
:func:`card_hash`); each trial records the hash with its seed and config hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "DIFF_LIMIT",
    "EnvironmentDifference",
    "capture_environment",
    "card_hash",
    "config_hash",
    "cpu_model",
    "current_environment",
    "diff_environments",
    "git_state",
    "redact_argv",
]

#: The largest git diff a card keeps, in characters (the rest is cut, and the card says so).
DIFF_LIMIT = 64_000

_GIT_TIMEOUT = 2.0


def _git(cwd: Path, *args: str) -> str | None:
    """Run git in ``cwd``; None when git is missing, fails or is not a repository."""
    if shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT,
            check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(cwd: str | os.PathLike[str] | None = None,
              diff_limit: int = DIFF_LIMIT) -> dict[str, Any] | None:
    """The git state of ``cwd`` (default: the working directory): commit, branch, dirty
    flag, untracked files and the diff against HEAD (cut at ``diff_limit`` characters);
    None outside a git repository.

    >>> state = git_state("/")
    >>> state is None or "commit" in state
    True
    """
    where = Path(cwd or os.getcwd())
    root = _git(where, "rev-parse", "--show-toplevel")
    if root is None:
        return None
    commit = (_git(where, "rev-parse", "HEAD") or "").strip() or None  # None: no commit yet
    branch = (_git(where, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    status = _git(where, "status", "--porcelain", "--untracked-files=normal") or ""
    untracked = sorted(line[3:] for line in status.splitlines() if line.startswith("??"))
    diff = (_git(where, "diff", "HEAD", "--no-color", "--no-ext-diff") if commit else "") or ""
    cut = len(diff) > diff_limit
    return {
        "root": root.strip(),
        "commit": commit,
        "branch": branch,
        "dirty": bool(status.strip()),
        "untracked": untracked[:200],
        "diff": diff[:diff_limit],
        "diff_truncated": cut,
        "diff_chars": len(diff),
    }


def _packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            found[str(name).lower().replace("_", "-")] = str(dist.version)
    return dict(sorted(found.items()))


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> dict[str, Any]:
    """GPUs and CUDA as torch sees them (only when torch is already imported: importing it
    costs seconds), else as ``nvidia-smi`` lists them."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            cuda = bool(torch.cuda.is_available())
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return {"cuda": getattr(torch.version, "cuda", None) if cuda else None,
                    "devices": names}
        except Exception:  # a broken driver must not fail a trial
            pass
    if shutil.which("nvidia-smi") is not None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        rows = [r.split(",") for r in out.strip().splitlines() if r.strip()]
        return {"cuda": None, "devices": [r[0].strip() for r in rows],
                "driver": rows[0][1].strip() if rows and len(rows[0]) > 1 else None}
    return {"cuda": None, "devices": []}


def capture_environment(
    cwd: str | os.PathLike[str] | None = None,
    *,
    argv: Sequence[str] | None = None,
    packages: bool = True,
    diff_limit: int = DIFF_LIMIT,
) -> dict[str, Any]:
    """Capture the environment card of this process: Python, packages, OS, hardware, git
    state of ``cwd`` and the command line (``argv``, default ``sys.argv``).

    >>> card = capture_environment(packages=False)
    >>> sorted(card)[:4]
    ['argv', 'captured_at', 'cwd', 'git']
    >>> card["python"]["version"] == platform.python_version()
    True
    """
    where = Path(cwd or os.getcwd()).resolve()
    memory = _memory_bytes()
    return {
        "captured_at": time.time(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": _packages() if packages else {},
        "os": {"system": platform.system(), "release": platform.release(),
               "version": platform.version(), "machine": platform.machine()},
        "hardware": {"cpu": cpu_model(), "cpu_count": os.cpu_count(),
                     "memory_gb": round(memory / 2**30, 1) if memory else None,
                     "gpu": _gpus()},
        "hostname": platform.node(),
        "git": git_state(where, diff_limit),
        "argv": redact_argv(sys.argv if argv is None else argv),
        "cwd": str(where),
    }


_SECRET = re.compile(r"(token|secret|passw|api[-_]?key|credential|auth)", re.I)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the values of secret-looking options replaced by ``***``
    (``--token X``, ``--api-key=X``, ``PASSWORD=X``): a card may live in a shared store.

    >>> redact_argv(["train.py", "--lr", "0.1", "--api-key", "abc", "--db-password=pw"])
    ['train.py', '--lr', '0.1', '--api-key', '***', '--db-password=***']
    """
    out: list[str] = []
    hide_next = False
    for arg in map(str, argv):
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if _SECRET.search(name) and eq:
            out.append(f"{name}=***")
        else:
            out.append(arg)
            hide_next = arg.startswith("-") and bool(_SECRET.search(arg))
    return out


#: Seconds a captured card is reused by :func:`current_environment`.
CACHE_SECONDS = 60.0
_CACHE: dict[tuple[str, int], tuple[float, dict[str, Any], str]] = {}


def current_environment(cwd: str | os.PathLike[str] | None = None) -> tuple[dict[str, Any], str]:
    """This process's card and its hash. The package scan and git calls take tens of
    milliseconds, so a card is reused for :data:`CACHE_SECONDS` (a notebook that edits
    code between studies gets a fresh one)."""
    key = (str(Path(cwd or os.getcwd()).resolve()), os.getpid())
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        card = capture_environment(key[0])
        hit = (now, card, card_hash(card))
        _CACHE[key] = hit
    return hit[1], hit[2]


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def card_hash(card: Mapping[str, Any]) -> str:
    """A short, stable hash of a card (its capture time left out), so that equal
    environments are stored once."""
    body = {k: v for k, v in card.items() if k != "captured_at"}
    return hashlib.sha256(_canonical(body).encode()).hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a configuration (key order does not matter).

    >>> config_hash({"lr": 0.1, "layers": 2}) == config_hash({"layers": 2, "lr": 0.1})
    True
    """
    return hashlib.sha256(_canonical(dict(config)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EnvironmentDifference:
    """One way two environment cards differ: ``what`` (e.g. ``package numpy``,
    ``python``, ``git commit``), the value ``before`` (recorded) and ``after`` (now);
    None where one side has nothing.

    >>> a = {"packages": {"numpy": "2.3.0"}, "python": {"version": "3.11.7"}}
    >>> b = {"packages": {"numpy": "2.4.1"}, "python": {"version": "3.11.7"}}
    >>> [str(d) for d in diff_environments(a, b)]
    ['package numpy: 2.3.0 -> 2.4.1']
    """

    what: str
    before: Any
    after: Any

    def __str__(self) -> str:
        def show(v: Any) -> str:
            return "(none)" if v is None else str(v)

        return f"{self.what}: {show(self.before)} -> {show(self.after)}"


_FIELDS = (
    ("python", ("python", "version")),
    ("python implementation", ("python", "implementation")),
    ("os", ("os", "system")),
    ("os release", ("os", "release")),
    ("machine", ("os", "machine")),
    ("cpu", ("hardware", "cpu")),
    ("cpu count", ("hardware", "cpu_count")),
    ("memory GB", ("hardware", "memory_gb")),
    ("gpu", ("hardware", "gpu", "devices")),
    ("cuda", ("hardware", "gpu", "cuda")),
    ("hostname", ("hostname",)),
    ("git commit", ("git", "commit")),
    ("git dirty", ("git", "dirty")),
)


def _get(card: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = card
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def diff_environments(
    recorded: Mapping[str, Any], now: Mapping[str, Any]
) -> list[EnvironmentDifference]:
    """What differs between a recorded card and another (e.g. this machine now): Python,
    OS, hardware, git commit and diff, and every package added, removed or upgraded."""
    out: list[EnvironmentDifference] = []
    for label, path in _FIELDS:
        a, b = _get(recorded, path), _get(now, path)
        if a != b and not (a is None and b is None):
            out.append(EnvironmentDifference(label, a, b))
    diff_a, diff_b = _get(recorded, ("git", "diff")), _get(now, ("git", "diff"))
    if (diff_a or "") != (diff_b or ""):
        out.append(EnvironmentDifference(
            "git diff", f"{len(diff_a or '')} chars", f"{len(diff_b or '')} chars"))
    pa = recorded.get("packages") or {}
    pb = now.get("packages") or {}
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            out.append(EnvironmentDifference(f"package {name}", pa.get(name), pb.get(name)))
    return out
