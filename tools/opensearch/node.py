"""Start and stop a local OpenSearch node (or a small cluster) for tests and benchmarks.

Everything comes from Maven Central, through ``mvn`` (``pom.xml`` beside this
file): the codelibs embedded runner, which puts OpenSearch's modules on the
classpath, and the k-NN plugin's jars (Lucene HNSW ``knn_vector``). The
launcher class (``src/main/java/picfind/Node.java``) picks free local ports,
waits until the cluster is yellow and prints ``PICFIND_URL=...``.

    python tools/opensearch/node.py start      # background; prints the URL as the last line
    python tools/opensearch/node.py stop

``PICFIND_OPENSEARCH_HEAP`` sets the heap (default 1g); ``PICFIND_OPENSEARCH_JAVA_OPTS``
adds JVM options, e.g. for the large benchmark on a JDK 21+ (``JAVA_HOME``)
``--add-modules=jdk.incubator.vector`` (and, on a JDK newer than this Lucene knows,
``-Dorg.apache.lucene.vectorization.upperJavaFeatureVersion=25``): Lucene's SIMD
vector code, which builds the HNSW graphs of a bulk load faster, and a collector
(``-XX:+UseG1GC``) in place of the default SerialGC for long loads.

Tests import ``start_cluster`` to run nodes of their own (two nodes, stopping one).
Standard library only: it runs before picfind is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET = HERE / "target"
RUN = HERE / "run"
JAVA_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/temurin-25-jdk-amd64")
HEAP = os.environ.get("PICFIND_OPENSEARCH_HEAP", "1g")


def build(quiet: bool = True) -> None:
    """``mvn package`` once: classes, runtime jars in target/lib, k-NN jars in target/knn."""
    if (TARGET / "classes" / "picfind" / "Node.class").exists() and (TARGET / "knn").is_dir():
        return
    cmd = ["mvn", "-B", "package"] + (["-q"] if quiet else [])
    subprocess.run(cmd, cwd=HERE, check=True, stdout=sys.stderr)  # stdout: the URL only


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return str(Path(home, "bin", "java"))
    found = shutil.which("java")
    if found:
        return found
    for home in JAVA_HOMES:
        if Path(home, "bin", "java").exists():
            return str(Path(home, "bin", "java"))
    raise RuntimeError("no java found: install a JDK 17 or later")


def command(nodes: int, base: Path, url_file: Path, control: bool) -> list[str]:
    cp = os.pathsep.join(
        [str(TARGET / "classes"), str(TARGET / "lib" / "*"), str(TARGET / "knn" / "*")]
    )
    extra = os.environ.get("PICFIND_OPENSEARCH_JAVA_OPTS", "").split()  # e.g. the bench's
    # SerialGC suits the small test heaps; a long bulk load (the 1M bench) names its own GC,
    # e.g. -XX:+UseG1GC: SerialGC's full collections there tripped the circuit breaker (429).
    gc = (
        []
        if any(o.startswith("-XX:+Use") and o.endswith("GC") for o in extra)
        else ["-XX:+UseSerialGC"]
    )
    args = [java(), f"-Xms{HEAP}", f"-Xmx{HEAP}", *gc, *extra, "-cp", cp]
    args.append("picfind.Node")
    args += ["--nodes", str(nodes), "--base", str(base), "--url-file", str(url_file)]
    return args + (["--control"] if control else [])


class Cluster:
    """A running launcher process: ``urls`` of its nodes; ``stop_node`` and ``close``."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        urls: list[str],
        base: Path,
        own_base: bool,
        log: Any = None,
    ):
        self.proc = proc
        self._log = log
        self.urls = urls
        self.base = base
        self._own_base = own_base

    @property
    def url(self) -> str:
        return self.urls[0]

    def stop_node(self, number: int, timeout: float = 60) -> None:
        """Stop node ``number`` (1-based); needs ``control=True``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"stop {number}\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _down(self.urls[number - 1]):
                return
            time.sleep(0.2)
        raise TimeoutError(f"node {number} did not stop")

    def close(self, keep_data: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_base and not keep_data:
            shutil.rmtree(self.base, ignore_errors=True)


def _down(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


def start_cluster(
    nodes: int = 1,
    base: Path | None = None,
    control: bool = True,
    timeout: float = 240,
    log: Path | None = None,
) -> Cluster:
    """Start ``nodes`` nodes in one JVM and wait until the cluster is yellow."""
    build()
    return launch(
        lambda b, u: command(nodes, b, u, control), "OpenSearch", base, control, timeout, log
    )


def launch(
    cmd: Any,
    label: str,
    base: Path | None = None,
    control: bool = False,
    timeout: float = 240,
    log: Path | None = None,
) -> Cluster:
    """Run the launcher ``cmd(base, url_file)`` until it writes its nodes' URLs there."""
    own = base is None
    prefix = f"picfind-{label.lower()}-"
    base = Path(tempfile.mkdtemp(prefix=prefix)) if base is None else base
    base.mkdir(parents=True, exist_ok=True)
    url_file = base / "url"
    url_file.unlink(missing_ok=True)
    out = open(log or base / "node.log", "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        cmd(base, url_file),
        stdin=subprocess.PIPE if control else subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if url_file.exists() and url_file.read_text().strip():
            return Cluster(proc, url_file.read_text().strip().split(","), base, own, out)
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    proc.kill()
    proc.wait()
    out.close()
    tail = (base / "node.log").read_text(errors="replace")[-2000:] if log is None else ""
    raise RuntimeError(f"{label} did not start (exit {proc.poll()}): {tail}")


def main(argv: list[str]) -> int:
    def start(base: Path, log: Path) -> Any:
        return start_cluster(1, base=base, control=False, log=log)

    return daemon_main(argv, "OpenSearch", RUN, build, start)


def daemon_main(
    argv: list[str], label: str, run: Path, build: Any, start: Any, note: str = ""
) -> int:
    """``start|stop|build`` of a background node kept in ``run`` (pid, log, data).

    ``start(base, log)`` starts it and returns an object with ``url`` and ``proc``;
    ``start`` prints the URL as the last line of standard output (and nothing else).
    """
    what = argv[1] if len(argv) > 1 else "start"
    run.mkdir(exist_ok=True)
    pid_file = run / "node.pid"
    url_file = run / "data" / "url"
    if what == "start":
        if pid_file.exists() and _alive(int(pid_file.read_text())) and url_file.exists():
            url = url_file.read_text().strip()
            if url:
                print(url.split(",")[0])
                return 0
        build()
        shutil.rmtree(run / "data", ignore_errors=True)
        node = start(run / "data", run / "node.log")
        pid_file.write_text(str(node.proc.pid))
        print(
            f"{label} {note}{node.url} (pid {node.proc.pid}, log {run / 'node.log'})",
            file=sys.stderr,
        )
        print(node.url)
        return 0
    if what == "stop":
        if not pid_file.exists():
            print("no node running", file=sys.stderr)
            return 0
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                if not _alive(pid):
                    break
                time.sleep(0.2)
        pid_file.unlink()
        shutil.rmtree(run / "data", ignore_errors=True)
        print("stopped", file=sys.stderr)
        return 0
    if what == "build":
        build(quiet=False)
        return 0
    print("usage: node.py start|stop|build", file=sys.stderr)
    return 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


if __name__ == "__main__":
    sys.exit(main(sys.argv))
