"""How Kafka's command line tools are started on a host: command builders, no I/O. The health gates run them over
SSH; the consumer lag reader (templates/consumer-lag/) runs one from a timer on the host itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import PurePosixPath

from kafkactl.model import ClusterVars, Host, host_port
from kafkactl.remote import Command, Word, cmd, sh

ADMIN_CONFIG = "kafkactl-admin.properties"
CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"

# A tool's own logging off, so that its stdout is its answer: log4j (Kafka 3) with no appender; log4j2 (Kafka 4),
# whose default configuration and status logger would print errors to stdout, at level OFF.
QUIET_LOGGING = ("-Dlog4j.configuration=file:/dev/null", "-Dlog4j2.statusLoggerLevel=OFF", "-Dorg.apache.logging.log4j.level=OFF")


# Class data of Kafka's tools, shared by every tool run after the first (Java 13+: a dynamic CDS archive). A tool
# starts in about half the time, and the gates start one before each stop and after each start. Root's alone: a
# JVM maps the archive as code, so no other account may write it.
TOOL_CLASS_DATA = "/var/lib/kafkactl/class-data"
# The JVM's own log off: a class-data warning on stdout would be read as the tool's answer. Options a Java older
# than 13 does not know are ignored there, and the archive is simply never made.
QUIET_JVM = ("-XX:+IgnoreUnrecognizedVMOptions", "-Xlog:disable", "-Xlog:all=error:stderr")


def tool_class_data(cluster: ClusterVars) -> str:
    """Where the archives of one Kafka install run by one Java path start their name: an archive is only valid for
    that class path and that JVM build, and the run adds the build's identity (java_tool)."""
    java = hashlib.sha256(cluster.java_executable.encode()).hexdigest()[:12]
    return f"{TOOL_CLASS_DATA}/{PurePosixPath(cluster.kafka_home).name}-{java}"


def java_tool(cluster: ClusterVars, main_class: str, args: list[Word], *, heap: str, jvm: list[Word] | None = None) -> Command:
    """A Java main class from the host's installed Kafka jars, started quickly with a small heap, from the tools'
    shared class data once a first run has made it (kept only from a run that ended well: the JVM writes it on its
    way out, so a run killed or failed leaves none)."""
    java = cmd(cluster.java_executable, f"-Xmx{heap}", "-XX:TieredStopAtLevel=1", "-Xshare:auto", *QUIET_JVM)
    tool = cmd(*(jvm or []), *QUIET_LOGGING, "-cp", f"{cluster.kafka_home}/libs/*", main_class, *args)
    # The JVM build is named by its launcher's and libjvm's size and time: a JDK upgraded in place gets an archive
    # of its own, which replaces the old one (the JVM would silently ignore it). Without a place to make it (a full
    # or read-only disk), the tool runs all the same.
    return sh("( launcher=$(readlink -f {java_path}); "
              "build=$(stat -L -c %s.%Y \"$launcher\" \"${{launcher%/bin/*}}/lib/server/libjvm.so\" 2>/dev/null | cksum | cut -d ' ' -f 1); "
              "archive={prefix}-$build.jsa; "
              "if [ -f \"$archive\" ]; then {java} \"-XX:SharedArchiveFile=$archive\" {tool}; else "
              "made=$(umask 077 && mkdir -p {directory} && mktemp {directory}/.made.XXXXXX); "
              "{java} ${{made:+\"-XX:ArchiveClassesAtExit=$made\"}} {tool}; status=$?; "
              "if [ $status -eq 0 ] && [ -s \"$made\" ]; then rm -f {prefix}*.jsa; mv -f \"$made\" \"$archive\"; "
              "elif [ -n \"$made\" ]; then rm -f \"$made\"; fi; "
              "exit $status; fi )",
              java_path=cluster.java_executable, prefix=tool_class_data(cluster), directory=TOOL_CLASS_DATA, java=java, tool=tool)


def tool_with_secret_args(cluster: ClusterVars, main_class: str, args: list[Word], secret_args_file: str) -> Command:
    """A Kafka tool given more arguments from a root-only file on the host (one per line). The main class and
    every argument reach java as an argument file on its stdin, so no secret is ever on a command line."""
    java = java_tool(cluster, "@/dev/stdin", [], heap="192m")
    return sh("{{ printf '%s\\n' {words} && cat {secrets}; }} | {java}", words=[main_class, *args],
              secrets=secret_args_file, java=java)


def admin_config(cluster: ClusterVars) -> str:
    return f"{cluster.kafka_config_dir}/{ADMIN_CONFIG}"


def inter_broker_bootstrap(brokers: Iterable[Host], cluster: ClusterVars) -> str:
    """The brokers on the inter-broker listener of `cluster` (kafkactl's client settings on a host are for it)."""
    return ",".join(host_port(b.name, cluster.inter_broker_listener.port) for b in brokers)


def describe_consumer_groups(cluster: ClusterVars, brokers: Iterable[Host]) -> Command:
    """`kafka-consumer-groups --describe --all-groups`: each group's committed offset and lag per partition."""
    return java_tool(cluster, CONSUMER_GROUP_COMMAND, [
        "--bootstrap-server", inter_broker_bootstrap(brokers, cluster), "--command-config", admin_config(cluster),
        "--describe", "--all-groups"], heap="192m")
