"""Obtain what the servers need, once: Debian packages, a suitable JDK, jars from Maven Central."""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from stack.errors import StackError


def apt_install(*packages: str) -> None:
    """Install Debian packages with apt-get (as root), refreshing the package lists once."""
    if os.geteuid() != 0:
        raise StackError(
            f"missing Debian packages {' '.join(packages)}",
            f"run: sudo apt-get install -y {' '.join(packages)}",
        )
    _apt_update()
    _apt(["apt-get", "install", "-y", "-q", *packages])


@functools.cache
def _apt_update() -> None:
    _apt(["apt-get", "update", "-q"])


def _apt(argv: list[str]) -> None:
    """One apt-get at a time across processes (test workers may each need a package): apt's own lock
    refuses a second caller instead of waiting for it."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(Path(tempfile.gettempdir()) / "agentlog-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StackError(f"`{' '.join(argv)}` failed: {reason}", "check the network and apt sources")


def require_binary(path_glob: str, package: str) -> Path:
    """The newest file matching path_glob, installing the Debian package that ships it if needed."""
    found = _newest(path_glob)
    if found is None:
        apt_install(package)
        found = _newest(path_glob)
    if found is None:
        raise StackError(
            f"{package} is installed but {path_glob} is missing",
            f"reinstall it: apt-get install --reinstall {package}",
        )
    return found


def _newest(path_glob: str) -> Path | None:
    matches = sorted(Path("/").glob(path_glob.lstrip("/")), key=lambda p: _version_key(str(p)))
    return matches[-1] if matches else None


def _version_key(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def java_major(java: Path) -> int | None:
    """The feature version (17, 21, ...) that `java -version` reports, None if it does not run."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java(min_major: int, preferred: Path | None, purpose: str) -> Path:
    """A java binary of at least min_major: the preferred JDK home if one is set (and only it),
    else JAVA_HOME, PATH and /usr/lib/jvm in that order."""
    if preferred:
        java = preferred / "bin" / "java"
        if java.exists() and (java_major(java) or 0) >= min_major:
            return java
        raise StackError(
            f"{preferred} is not a JDK {min_major}+ ({purpose})",
            "point the setting at a JDK home that has bin/java",
        )
    candidates = [Path(os.environ["JAVA_HOME"]) / "bin" / "java"] if os.environ.get("JAVA_HOME") else []
    if on_path := shutil.which("java"):
        candidates.append(Path(on_path))
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java"))
    for java in candidates:
        if java.exists() and (java_major(java) or 0) >= min_major:
            return java
    if min_major <= 17 and os.geteuid() == 0:
        apt_install("openjdk-17-jre-headless")
        return find_java(min_major, Path("/usr/lib/jvm/java-17-openjdk-amd64"), purpose)
    raise StackError(
        f"no Java {min_major} or newer found for {purpose}",
        f"install a JDK {min_major}+ under /usr/lib/jvm or set its home in the environment",
    )


def maven(args: list[str], what: str) -> None:
    """Run Maven in batch mode; a failure becomes a StackError quoting Maven's first error.

    It runs in a scratch directory, deleted afterwards: without a POM some goals (the dependency
    plugin's `unpack`) write their markers under a literal `${project.basedir}/` in the working
    directory, which would otherwise be wherever `agentlog stack up` was started.
    """
    mvn = shutil.which("mvn") or str(require_binary("/usr/bin/mvn", "maven"))
    with tempfile.TemporaryDirectory(prefix="agentlog-maven-") as scratch:
        done = subprocess.run([mvn, "-B", "-q", *args], capture_output=True, text=True, check=False, cwd=scratch)
    if done.returncode != 0:
        lines = [ln for ln in done.stdout.splitlines() if "[ERROR]" in ln] or ["no output"]
        raise StackError(
            f"could not download {what}: {lines[0].replace('[ERROR]', '').strip()[:300]}",
            "check that Maven Central is reachable (see ~/.m2/settings.xml) and retry",
        )


def fetch_once(dest: Path, fill: Callable[[Path], None]) -> Path:
    """Build dest with fill(tmp_dir) unless it is already complete; the rename makes it atomic."""
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        fill(Path(tmp))
        (Path(tmp) / ".complete").touch()
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
        Path(tmp).mkdir()  # TemporaryDirectory wants something to clean up
    return dest


def run_java(java: Path, libs: Path, args: list[str], what: str) -> None:
    """Run a Java main class from the jars in libs, failing with its last output line."""
    done = subprocess.run([str(java), "-cp", f"{libs}/*", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = ((done.stderr + done.stdout).strip().splitlines() or ["no output"])[-1]
        raise StackError(f"{what} failed: {reason[:300]}", "see the message above, then retry")
