"""A Kafka binary distribution assembled from Maven artifacts.

``mvn dependency:copy-dependencies`` on ``kafka-dist/pom.xml`` resolves the broker,
ZooKeeper, the tools and Connect into a flat ``libs/`` directory, which is packed as
``kafka_2.13-<version>.tgz`` with the layout of the official archive's ``libs/``
(plus ``VERSION`` and ``config/*log4j.properties``). The archive is byte-for-byte
reproducible for a given set of jars: sorted entries, fixed owners and timestamps.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ._run import LabError, atomic_write, cache_dir, file_lock, log, run

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
POM = Path(__file__).with_name("kafka-dist") / "pom.xml"

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.zookeeper=INFO
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=INFO
"""

TOOLS_LOG4J_PROPERTIES = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
"""

EXTRA_FILES = {
    "config/log4j.properties": LOG4J_PROPERTIES,
    "config/tools-log4j.properties": TOOLS_LOG4J_PROPERTIES,
}
# Changes whenever the packed layout or the resolved dependencies change, so a cached archive of another is rebuilt.
LAYOUT = hashlib.sha256(repr((sorted(EXTRA_FILES.items()), POM.read_text())).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KafkaArchive:
    path: Path
    sha256: str
    version: str

    @property
    def top_dir(self) -> str:
        return f"kafka_{SCALA_VERSION}-{self.version}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve(version: str, libs: Path, repo: Path) -> float:
    """Copy the runtime dependency closure into ``libs``; return seconds taken."""
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    log.info("resolving Kafka %s with mvn into %s", version, libs)
    t0 = time.monotonic()
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f", str(POM),
            f"-Dkafka.version={version}",
            f"-Dmaven.repo.local={repo}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
            *(["-Dkafka.logging=log4j2"] if int(version.split(".")[0]) >= 4 else []),  # Kafka 4 logs through log4j2
            "dependency:copy-dependencies",
        ],
        timeout=1800,
    )
    elapsed = time.monotonic() - t0
    if not any(libs.glob(f"kafka_{SCALA_VERSION}-{version}.jar")):
        raise LabError(f"mvn finished but kafka_{SCALA_VERSION}-{version}.jar is not in {libs}")
    return elapsed


def _pack(version: str, libs: Path, out: Path) -> None:
    top = f"kafka_{SCALA_VERSION}-{version}"

    def info(name: str, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(f"{top}/{name}" if name else top)
        ti.size, ti.mode, ti.type = size, mode, kind
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 0
        return ti

    part = out.with_name(out.name + ".part")
    with open(part, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in ("", "libs", "config"):
                tar.addfile(info(d, mode=0o755, kind=tarfile.DIRTYPE))
            for name, text in (("VERSION", f"{version}\n"), *sorted(EXTRA_FILES.items())):
                data = text.encode()
                tar.addfile(info(name, len(data)), io.BytesIO(data))
            for jar in sorted(libs.glob("*.jar")):
                with open(jar, "rb") as fh:
                    tar.addfile(info(f"libs/{jar.name}", jar.stat().st_size), fh)
    os.replace(part, out)


def ensure_kafka_archive(version: str = KAFKA_VERSION) -> tuple[KafkaArchive, dict[str, float]]:
    """Return the cached archive for ``version``, resolving and packing it when missing."""
    base = cache_dir()
    kdir = base / "kafka"
    out = kdir / f"kafka_{SCALA_VERSION}-{version}.tgz"
    sha_file = out.with_name(out.name + ".sha256")
    stamp = out.with_name(out.name + ".json")
    timings: dict[str, float] = {}

    def cached() -> KafkaArchive | None:
        try:
            meta = json.loads(stamp.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if out.exists() and meta.get("layout") == LAYOUT and meta.get("size") == out.stat().st_size:
            return KafkaArchive(out, meta["sha256"], version)
        return None

    if (hit := cached()) is not None:
        return hit, timings
    with file_lock(kdir / ".lock"):
        if (hit := cached()) is not None:
            return hit, timings
        libs = kdir / f"build-{version}" / "libs"
        timings["mvn_resolve_s"] = _resolve(version, libs, base / "maven-repo")
        t0 = time.monotonic()
        _pack(version, libs, out)
        digest = _sha256(out)
        atomic_write(sha_file, f"{digest}  {out.name}\n")
        meta = {"sha256": digest, "layout": LAYOUT, "size": out.stat().st_size, "version": version}
        atomic_write(stamp, json.dumps(meta, indent=2) + "\n")
        shutil.rmtree(libs.parent)
        timings["pack_s"] = time.monotonic() - t0
        log.info("Kafka %s archive %s sha256 %s", version, out, digest)
        return KafkaArchive(out, digest, version), timings


JMX_EXPORTER = "io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1"


@dataclass(frozen=True)
class ExporterJar:
    path: Path
    sha256: str


def ensure_jmx_exporter_jar() -> ExporterJar:
    """The Prometheus JMX exporter agent jar from Maven's default repository, cached beside the Kafka archives."""
    base = cache_dir()
    group, artifact, version = JMX_EXPORTER.split(":")
    folder = base / "jmx-exporter"
    jar = folder / f"{artifact}-{version}.jar"
    with file_lock(base / ".jmx-exporter.lock"):
        if not jar.exists():
            folder.mkdir(parents=True, exist_ok=True)
            log.info("resolving %s with mvn into %s", JMX_EXPORTER, folder)
            run(["mvn", "-q", "-B", "-Dstyle.color=never", f"-Dmaven.repo.local={base / 'maven-repo'}",
                 f"-Dartifact={JMX_EXPORTER}", f"-DoutputDirectory={folder}", "dependency:copy"], timeout=600)
            if not jar.exists():
                raise LabError(f"mvn finished but {jar} is missing")
    return ExporterJar(jar, _sha256(jar))
