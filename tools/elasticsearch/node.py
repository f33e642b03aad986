"""Start and stop a local Elasticsearch node for the tests, from Maven Central's jars.

Maven Central serves the Elasticsearch server and its transport-netty4 module,
and nothing else of the distribution's modules for 8.x/9.x: this node has no
``rank_features`` (mapper-extras), no painless (lang-painless), and answers
``GET /`` from its launcher (rest-root is not served either). README.md beside
this file lists what was tried. The tests use it for what it has (the client,
``dense_vector`` kNN, bulk, point-in-time, aliases); the full suite needs a real
distribution (``PICFIND_TEST_ES_URL``).

    python tools/elasticsearch/node.py start      # background; prints the URL as the last line
    python tools/elasticsearch/node.py stop
    python tools/elasticsearch/node.py build

``PICFIND_ES_VERSION`` picks the version (default 8.19.21, Java 17); a 9.x
version needs Java 21 or later (``JAVA_HOME``, or the Temurin JDK where it is).
Standard library only: it runs before picfind is installed.
"""

from __future__ import annotations

import functools
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET = HERE / "target"
RUN = HERE / "run"
VERSION = os.environ.get("PICFIND_ES_VERSION", "8.19.21")
HEAP = os.environ.get("PICFIND_ES_HEAP", "512m")
JDK21 = ("/usr/lib/jvm/temurin-25-jdk-amd64", "/usr/lib/jvm/java-21-openjdk-amd64")


@functools.cache
def _opensearch_node() -> Any:
    """tools/opensearch/node.py's functions (the JDK lookup and the start/stop CLI)."""
    return SimpleNamespace(**runpy.run_path(str(HERE.parent / "opensearch" / "node.py")))


def _major() -> int:
    return int(VERSION.split(".")[0])


def java_home() -> str | None:
    """The JDK to build and run with: the default one for 8.x, a JDK ≥ 21 for 9.x."""
    if _major() < 9:
        return None
    home = os.environ.get("JAVA_HOME")
    for candidate in ((home,) if home else ()) + JDK21:
        if candidate and Path(candidate, "bin", "java").exists():
            return candidate
    raise RuntimeError(f"Elasticsearch {VERSION} needs a JDK 21 or later (set JAVA_HOME)")


def java() -> str:
    home = java_home()
    return str(Path(home, "bin", "java")) if home else _opensearch_node().java()


def _built() -> bool:
    stamp = TARGET / "es.version"
    return (
        (TARGET / "classes" / "picfind" / "EsNode.class").exists()
        and stamp.exists()
        and stamp.read_text().strip() == VERSION
    )


def build(quiet: bool = True) -> None:
    """``mvn package`` once per version: the launcher, target/lib and target/home."""
    if _built():
        return
    shutil.rmtree(TARGET, ignore_errors=True)
    cmd = ["mvn", "-B", "package", f"-Des.version={VERSION}"] + (["-q"] if quiet else [])
    env = dict(os.environ)
    home = java_home()
    if home:
        cmd.append("-Dmaven.compiler.release=21")
        env["JAVA_HOME"] = home
    subprocess.run(cmd, cwd=HERE, check=True, stdout=sys.stderr, env=env)  # stdout: the URL
    (TARGET / "es.version").write_text(VERSION + "\n")


def command(base: Path, url_file: Path) -> list[str]:
    return [
        java(),
        f"-Xms{HEAP}",
        f"-Xmx{HEAP}",
        "-XX:+UseSerialGC",
        "-p",
        str(TARGET / "lib"),
        "--add-modules",
        "org.elasticsearch.server",
        "-cp",
        str(TARGET / "classes"),
        "picfind.EsNode",
        "--home",
        str(TARGET / "home"),
        "--base",
        str(base),
        "--url-file",
        str(url_file),
    ]


def start_node(base: Path | None = None, timeout: float = 240, log: Path | None = None) -> Any:
    """Start one node and wait until it answers (the launcher writes the URL then).

    Returns tools/opensearch/node.py's ``Cluster``: ``url``, ``proc``, ``close()``.
    """
    build()
    return _opensearch_node().launch(command, "Elasticsearch", base, False, timeout, log)


def main(argv: list[str]) -> int:
    def start(base: Path, log: Path) -> Any:
        return start_node(base=base, log=log)

    return int(
        _opensearch_node().daemon_main(argv, "Elasticsearch", RUN, build, start, f"{VERSION} ")
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
