"""What kafkactl runs on a host, command by command: values stay data, secrets stay off command lines.

The host is a recorder: it keeps every command and upload, and fails the commands a test names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.executor import (
    Executor, RunOptions, java_argfile, scram_bootstrap_arguments, storage_format_arguments, storage_format_command,
)
from kafkactl.exporter import BROKER_STATE, metrics_command
from kafkactl.facts import running_version
from kafkactl.health import broker_registered, checked_zookeeper_connect, http_ready, zookeeper_command, zookeeper_mode
from kafkactl.kafka_tools import java_tool, tool_with_secret_args
from kafkactl.inventory import read_inventory
from kafkactl.lab import KAFKA_VERSION, cache_dir
from kafkactl.migration.evidence import LiveCluster
from kafkactl.model import ClusterVars, Component, Host, Phase
from kafkactl.plan import FileFacts, HostFacts, make_plan
from kafkactl.remote import Command
from kafkactl.report import Report
from kafkactl.transport import CommandResult, SshOptions, Transport, TransportError
from kafkactl.zookeeper_acls import secure_znodes

from helpers import ROOT, run_cli

SHA256 = "0" * 64
PASSWORD = "p=w'\\$(touch${IFS}/tmp/p)`id`ä%n]"  # all a shell, the Java launcher or Kafka's --add-scram parser could misread
CLUSTER = read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory.cluster


@dataclass
class RecordingHost:
    """A connection that records instead of running; commands containing one of `failing` exit 1."""

    host: Host
    failing: tuple[str, ...] = ()
    commands: list[str] = field(default_factory=list)
    uploads: list[tuple[str, bytes, str, str, str, bool]] = field(default_factory=list)

    def run(self, command: Command, *, check: bool = True, timeout: float | None = 600, stdin: bytes | None = None) -> CommandResult:
        if not isinstance(command, Command):
            raise TypeError(f"not a Command: {command!r}")
        self.commands.append(command.text)
        code = 1 if any(part in command.text for part in self.failing) else 0
        if check and code:
            raise TransportError(f"host {self.host.name}: command failed (exit 1)")
        return CommandResult(code, "", "")

    def put(self, content: bytes, path: str, *, mode: str, owner: str, group: str, keep_previous: bool = True) -> None:
        self.uploads.append((path, content, mode, owner, group, keep_previous))


class RecordingTransport(Transport):
    def __init__(self, recorders: dict[str, RecordingHost]) -> None:
        super().__init__([recorder.host for recorder in recorders.values()], SshOptions(), forks=1)
        self.recorders = recorders

    def connection(self, name: str) -> RecordingHost:  # type: ignore[override]
        return self.recorders[name]


def scram_kraft_inventory(tmp_path: Path, password: str = PASSWORD) -> Path:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  vars:\n    sasl_protocol: scram\n    sasl_scram_users:\n      admin:\n        principal: admin\n"
        f"        password: {json.dumps(password)}\n"
        "kafka_controller:\n  hosts: {c1.example.com: }\nkafka_broker:\n  hosts: {b1.example.com: }\n"
    )
    return inventory


def executor_for(inventory_path: Path, failing: tuple[str, ...] = ()) -> tuple[Executor, dict[str, RecordingHost]]:
    inventory = read_inventory(inventory_path).inventory
    desired = desired_state(inventory, Phase.KRAFT)
    hosts = {state.host.name: RecordingHost(state.host, failing) for state in desired.hosts}
    report = Report(Environment(variables={}))
    executor = Executor(inventory, desired, make_plan(desired), {}, RecordingTransport(hosts), report,  # type: ignore[arg-type]
                        RunOptions(), cluster_id="-sa-KocjQCWANrZuTbAryQ")
    return executor, hosts


# Commands as the host receives them ------------------------------------------------------------------

HOME = CLUSTER.kafka_home
CLASS_DATA = f"/var/lib/kafkactl/class-data/kafka_2.13-3.9.2-{hashlib.sha256(b'/usr/bin/java').hexdigest()[:12]}"


def as_tool(java: str, tool: str) -> str:
    """A Kafka tool as the host receives it: started from the tools' shared class data of this JVM build, or making it."""
    return ("( launcher=$(readlink -f /usr/bin/java); "
            "build=$(stat -L -c %s.%Y \"$launcher\" \"${launcher%/bin/*}/lib/server/libjvm.so\" 2>/dev/null | cksum | cut -d ' ' -f 1); "
            f"archive={CLASS_DATA}-$build.jsa; "
            f"if [ -f \"$archive\" ]; then {java} \"-XX:SharedArchiveFile=$archive\" {tool}; else "
            "made=$(umask 077 && mkdir -p /var/lib/kafkactl/class-data && mktemp /var/lib/kafkactl/class-data/.made.XXXXXX); "
            f"{java} ${{made:+\"-XX:ArchiveClassesAtExit=$made\"}} {tool}; status=$?; "
            f"if [ $status -eq 0 ] && [ -s \"$made\" ]; then rm -f {CLASS_DATA}*.jsa; mv -f \"$made\" \"$archive\"; "
            "elif [ -n \"$made\" ]; then rm -f \"$made\"; fi; exit $status; fi )")


JAVA = "-XX:TieredStopAtLevel=1 -Xshare:auto -XX:+IgnoreUnrecognizedVMOptions -Xlog:disable -Xlog:all=error:stderr"
QUIET = "-Dlog4j.configuration=file:/dev/null -Dlog4j2.statusLoggerLevel=OFF -Dorg.apache.logging.log4j.level=OFF"
EXPECTED_COMMANDS = [
    (
        "kafka-storage format: everything after the classpath comes from the @argfile",
        storage_format_command(CLUSTER, "/run/kafkactl-1/arguments"),
        f"runuser -u kafka -- /usr/bin/java -Xmx256m {QUIET} -cp '{HOME}/libs/*' "
        "@/run/kafkactl-1/arguments",
    ),
    (
        "a ZooKeeper connect string is one quoted word after -server",
        java_tool(CLUSTER, "org.apache.zookeeper.ZooKeeperMain", ["-server", "zk1:2181,zk2:2181/kafka", "-timeout", 15000],
                  heap="128m", jvm=["-Djava.security.auth.login.config=/etc/kafka/a b.conf"]),
        as_tool(f"/usr/bin/java -Xmx128m {JAVA}", f"'-Djava.security.auth.login.config=/etc/kafka/a b.conf' {QUIET} -cp '{HOME}/libs/*' "
                "org.apache.zookeeper.ZooKeeperMain -server zk1:2181,zk2:2181/kafka -timeout 15000"),
    ),
    (
        "JmxTool's password: every argument comes from an argument file on stdin, the secret ones from root's file",
        tool_with_secret_args(CLUSTER, "org.apache.kafka.tools.JmxTool", ["--one-time", "true"],
                              "/run/kafkactl-jmx/kafka-controller.client"),
        "{ printf '%s\\n' org.apache.kafka.tools.JmxTool --one-time true && cat /run/kafkactl-jmx/kafka-controller.client; } "
        "| " + as_tool(f"/usr/bin/java -Xmx192m {JAVA}", f"{QUIET} -cp '{HOME}/libs/*' @/dev/stdin"),
    ),
    (
        "a service name inside the running-version probe is quoted",
        running_version("kafka broker;id"),
        "pid=$(systemctl show -p MainPID --value 'kafka broker;id' 2>/dev/null); [ \"${pid:-0}\" -gt 0 ] && "
        "libs=$(tr '\\0' '\\n' < /proc/$pid/cmdline | grep -m1 -o '^[^:]*/libs/') && "
        "ls \"$libs\" | sed -n 's/^kafka_2\\.1[0-9]-\\([0-9][0-9.]*[0-9]\\)\\.jar$/\\1/p' | head -n 1",
    ),
    (
        "an exporter reading asks the loopback for the named metrics only",
        metrics_command(8080, [BROKER_STATE]),
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 && printf '\"'\"'GET %s HTTP/1.0\\r\\n\\r\\n'\"'\"' "
        "'\"'\"'/metrics?name[]=kafka_server_kafkaserver_brokerstate'\"'\"' >&3 && cat <&3'",
    ),
]


@pytest.mark.parametrize("built, expected", [(b, e) for _, b, e in EXPECTED_COMMANDS], ids=[d for d, _, _ in EXPECTED_COMMANDS])
def test_commands_as_the_host_receives_them(built: Command, expected: str) -> None:
    assert built.text == expected


BROKER = Host(name="kafka1.example.com", address="10.0.0.1", broker_id=1, components=(Component.KAFKA_BROKER,))
ADMIN = f"{CLUSTER.kafka_config_dir}/kafkactl-admin.properties"
EXPECTED_STEP_COMMANDS = [
    (
        "ZooKeeper's srvr probe runs in bash, the port a quoted word",
        lambda host: zookeeper_mode(host, CLUSTER),
        ["bash -c 'exec 3<>/dev/tcp/127.0.0.1/2181 && printf srvr >&3 && cat <&3'"],
    ),
    (
        "the REST probe names the host and the path as data",
        lambda host: http_ready(host, BROKER, 8083, "/health"),
        ["bash -c 'exec 3<>/dev/tcp/kafka1.example.com/8083 && printf '\"'\"'GET %s HTTP/1.0\\r\\n\\r\\n'\"'\"' /health >&3 "
         "&& head -n 1 <&3'"],
    ),
    (
        "a Kafka tool gets its arguments as words",
        lambda host: broker_registered(host, CLUSTER, BROKER),
        [as_tool(f"/usr/bin/java -Xmx192m {JAVA}", f"{QUIET} -cp '{HOME}/libs/*' kafka.admin.BrokerApiVersionsCommand "
                 f"--bootstrap-server kafka1.example.com:9091 --command-config {ADMIN}")],
    ),
]


@pytest.mark.parametrize("step, expected", [(s, e) for _, s, e in EXPECTED_STEP_COMMANDS], ids=[d for d, _, _ in EXPECTED_STEP_COMMANDS])
def test_commands_health_checks_send(step, expected: list[str]) -> None:
    host = RecordingHost(BROKER)
    step(host)
    assert host.commands == expected


def test_preparing_a_host_creates_the_account_and_directories_then_fetches_and_checks_kafka(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        f"all:\n  vars:\n    kafka_archive_source: 'https://downloads.example.com/kafka a.tgz'\n    kafka_archive_sha256: '{SHA256}'\n"
        "kafka_controller:\n  hosts: {c1.example.com: }\nkafka_broker:\n  hosts: {b1.example.com: }\n"
    )
    executor, hosts = executor_for(inventory)
    state = executor.states["c1.example.com"]
    executor._prepare_host(state)
    account, download, unpack = hosts["c1.example.com"].commands
    staging = download.split()[5]
    user_and_group, directories = account.split("; } && install -d -m ", 1)
    assert user_and_group == (
        "{ getent group kafka >/dev/null || groupadd --system kafka; } && "
        "{ id -u kafka >/dev/null 2>&1 || useradd --system --gid kafka --no-create-home --home-dir /nonexistent "
        "--shell /usr/sbin/nologin kafka"
    )
    made = [d.split(" ", 1)[1] for d in directories.split(" && install -d -m ")]  # the mode comes from role data
    assert made == [f"-o {d.owner} -g {d.group} {d.path}" for d in state.directories]
    assert staging.startswith("/tmp/.kafkactl-kafka-")
    assert download == (f"curl -fsSL --retry 3 -o {staging} 'https://downloads.example.com/kafka a.tgz' || "
                        f"wget -q -O {staging} 'https://downloads.example.com/kafka a.tgz'")
    assert unpack == (f"printf '%s  %s\\n' {SHA256} {staging} | sha256sum -c --quiet - && mkdir -p /opt/kafka && "
                      f"tar --no-same-owner -xzf {staging} -C /opt/kafka && test -d /opt/kafka/kafka_2.13-3.9.2/libs; "
                      f"status=$?; rm -f {staging}; exit $status")



def test_an_unverified_archive_is_installed_only_when_allowed_and_said_so(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  vars:\n    kafka_archive_source: http://mirror.example.com/kafka.tgz\n    kafka_archive_allow_unverified: true\n"
        "kafka_controller:\n  hosts: {c1.example.com: }\nkafka_broker:\n  hosts: {b1.example.com: }\n"
    )
    executor, hosts = executor_for(inventory)
    warnings = []
    executor.report.warning = warnings.append  # type: ignore[method-assign]
    executor._prepare_host(executor.states["c1.example.com"])
    unpack = hosts["c1.example.com"].commands[-1]
    assert unpack.startswith("mkdir -p /opt/kafka && tar ") and "sha256sum" not in unpack
    assert warnings == ["host c1.example.com: http://mirror.example.com/kafka.tgz is installed unverified (kafka_archive_allow_unverified)"]

# Secrets never on a command line ----------------------------------------------------------------------


def test_scram_format_passes_the_password_only_in_a_private_argfile(tmp_path: Path) -> None:
    executor, hosts = executor_for(scram_kraft_inventory(tmp_path))
    controller = hosts["c1.example.com"]
    executor._format_storage(controller, executor.states["c1.example.com"], Component.KAFKA_CONTROLLER)  # type: ignore[arg-type]

    assert all(PASSWORD not in command and "touch" not in command for command in controller.commands)
    make_directory, format_storage, remove = controller.commands
    directory = make_directory.split()[3]
    assert make_directory == f"mkdir -m 0710 {directory} && chgrp kafka {directory}"
    assert directory.startswith("/run/kafkactl-")
    assert format_storage.endswith(f" @{directory}/arguments")
    assert remove == f"rm -rf -- {directory}"
    [(path, content, mode, owner, group, keep_previous)] = controller.uploads
    assert (path, mode, owner, group, keep_previous) == (f"{directory}/arguments", "0600", "kafka", "kafka", False)
    assert java_argfile(["--add-scram", f'SCRAM-SHA-512=[name="admin",password="{PASSWORD}"]']) in content


@pytest.mark.parametrize("failing", ["chgrp", "runuser"])
def test_the_argfile_directory_is_removed_whatever_fails(tmp_path: Path, failing: str) -> None:
    executor, hosts = executor_for(scram_kraft_inventory(tmp_path), failing=(failing,))
    controller = hosts["c1.example.com"]
    with pytest.raises(TransportError):
        executor._format_storage(controller, executor.states["c1.example.com"], Component.KAFKA_CONTROLLER)  # type: ignore[arg-type]
    assert controller.commands[-1].startswith("rm -rf -- /run/kafkactl-")


def test_scram_arguments_name_each_mechanism_the_listeners_use(tmp_path: Path) -> None:
    cluster = read_inventory(scram_kraft_inventory(tmp_path, "secret")).inventory.cluster
    assert scram_bootstrap_arguments(cluster) == ["--add-scram", 'SCRAM-SHA-512=[name="admin",password="secret"]']
    assert scram_bootstrap_arguments(CLUSTER) == []
    assert storage_format_arguments("-id", "/etc/kafka/c.properties", ["--release-version", "3.9"]) == [
        "kafka.tools.StorageTool", "format", "--cluster-id=-id", "--config", "/etc/kafka/c.properties", "--release-version", "3.9"]


@pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")
def test_the_java_launcher_reads_every_word_of_an_argfile_back(tmp_path: Path) -> None:
    (tmp_path / "Echo.java").write_text(
        "public class Echo { public static void main(String[] a) { for (String s : a) System.out.print(s + \"\\u0000\"); } }")
    subprocess.run(["javac", "Echo.java"], cwd=tmp_path, check=True)
    words = [PASSWORD, 'say "hi"', "a b", "#not a comment", "@not-a-file", "line\nbreak", "tab\there", "", "back\\\\slash", "'single'"]
    (tmp_path / "arguments").write_bytes(java_argfile(["Echo", *words]))
    done = subprocess.run(["java", "-cp", str(tmp_path), f"@{tmp_path / 'arguments'}"], capture_output=True, check=True)
    assert done.stdout.decode("utf-8").split("\0")[:-1] == words


# A value read from a host is data -----------------------------------------------------------------------

ZOOKEEPER_CONNECT_CASES = [
    ("zk1:2181", True),
    ("zk1.example.com:2181,zk2.example.com:2181,zk3.example.com:2181/kafka", True),
    ("10.0.0.1:2181,[fd00::1]:2181/kafka/prod", True),
    ("x;touch /tmp/p", False),
    ("$(id)", False),
    ("zk1:2181;id", False),
    ("zk1:2181 && id", False),
    ("zk1:2181/$(id)", False),
    ("zk1:2181/kafka`id`", False),
    ("zk1:2181\nid", False),
    ("-zk1:2181", False),
    ("zk1", False),
    ("zk1:99999", False),
    ("[zk1]:2181", False),
    ("zk1:2181,", False),
    ("zk1:2181/../etc", False),
    ("", False),
]


@pytest.mark.parametrize("value, accepted", ZOOKEEPER_CONNECT_CASES)
def test_zookeeper_connect_strings(value: str, accepted: bool) -> None:
    if accepted:
        assert checked_zookeeper_connect(value) == value
    else:
        with pytest.raises(ValueError, match="expected host:port"):
            checked_zookeeper_connect(value)


@pytest.mark.parametrize("hostile", ["x;touch /tmp/p", "$(id)"])
def test_a_hostile_zookeeper_connect_from_a_broker_is_refused_naming_host_and_file(hostile: str) -> None:
    inventory = read_inventory(ROOT / "inventories/kraft-migration/inventory.yml").inventory
    desired = desired_state(inventory, Phase.DUAL_WRITE)
    planted = FileFacts(f"broker.id=1\nzookeeper.connect={hostile}\n", "kafka:kafka", "0640", 0)
    facts = {state.host.name: HostFacts() for state in desired.hosts}
    facts["kafka1.example.com"] = HostFacts(files={"/etc/kafka/server.properties": planted})
    hosts = {state.host.name: RecordingHost(state.host) for state in desired.hosts}
    live = LiveCluster(inventory, desired, facts, RecordingTransport(hosts))  # type: ignore[arg-type]

    view = live.zookeeper(live.zookeeper_reader(live.nodes()))
    with pytest.raises(TransportError) as deleting:
        live.delete_znode("/controller")

    refusal = f"host kafka1.example.com: /etc/kafka/server.properties: zookeeper.connect {hostile!r}: "
    assert not view.read and view.error.startswith(refusal) and view.error.endswith("; not used")
    assert str(deleting.value).startswith(refusal)
    assert all(not h.commands for h in hosts.values())


def test_zookeeper_shell_refuses_a_hostile_connect_string_without_running_anything() -> None:
    host = RecordingHost(Host(name="kafka1.example.com", address="10.0.0.1", components=(Component.KAFKA_BROKER,)))
    with pytest.raises(TransportError, match="host kafka1.example.com: zookeeper.connect 'zk:2181;id'"):
        zookeeper_command(host, CLUSTER, "zk:2181;id", ["get /controller"], None, None)  # type: ignore[arg-type]
    assert host.commands == []


# An archive fetched on the hosts is verified -----------------------------------------------------------

ARCHIVE_CASES = [
    ({"kafka_archive_source": "https://downloads.example.com/kafka.tgz", "kafka_archive_sha256": SHA256}, None),
    ({"kafka_archive_source": "/srv/kafka.tgz"}, None),
    ({"kafka_archive_source": "https://downloads.example.com/kafka.tgz"}, "kafka_archive_sha256 is required for a URL"),
    ({"kafka_archive_source": "http://downloads.example.com/kafka.tgz", "kafka_archive_sha256": SHA256}, "only https:// URLs"),
    ({"kafka_archive_source": "ftp://downloads.example.com/kafka.tgz", "kafka_archive_sha256": SHA256}, "only https:// URLs"),
    ({"kafka_archive_source": "http://downloads.example.com/kafka.tgz", "kafka_archive_allow_unverified": True}, None),
    ({"kafka_archive_source": "https://u:secret@downloads.example.com/kafka.tgz", "kafka_archive_sha256": SHA256},
     "URL with credentials"),
    ({"kafka_archive_source": "https://u:secret@downloads.example.com/k.tgz", "kafka_archive_allow_unverified": True},
     "URL with credentials"),
]


@pytest.mark.parametrize("variables, refusal", ARCHIVE_CASES)
def test_archive_sources(variables: dict, refusal: str | None) -> None:
    if refusal is None:
        ClusterVars(**variables)
    else:
        with pytest.raises(ValueError, match=refusal) as refused:
            ClusterVars(**variables)
        assert "secret" not in str(refused.value)


def test_validate_names_the_line_of_an_unverified_archive_url(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars:\n    kafka_archive_source: https://downloads.example.com/kafka.tgz\n"
                         "kafka_controller:\n  hosts: {c1.example.com: }\nkafka_broker:\n  hosts: {b1.example.com: }\n")
    outcome = run_cli("validate", str(inventory))
    assert outcome.exit_code == 1
    assert f"{inventory}:3: kafka_archive_source https://downloads.example.com/kafka.tgz: kafka_archive_sha256 is required" \
        in outcome.stderr


KAFKA_ARCHIVE = cache_dir() / "kafka" / f"kafka_2.13-{KAFKA_VERSION}.tgz"


@pytest.mark.skipif(not KAFKA_ARCHIVE.is_file() or shutil.which("java") is None,
                    reason="needs java and the lab's Kafka archive (kafkactl lab up makes it)")
def test_kafka_storage_tool_takes_the_scram_credential_from_the_argfile(tmp_path: Path) -> None:
    password = "s3cr3t-ä$(touch${IFS}/tmp/p)'`id`\\%n=[x]="  # Kafka's own --add-scram syntax cannot carry , and "
    cluster = read_inventory(scram_kraft_inventory(tmp_path, password)).inventory.cluster
    with tarfile.open(KAFKA_ARCHIVE) as archive:
        archive.extractall(tmp_path / "kafka", members=[m for m in archive.getmembers() if "/libs/" in m.name], filter="data")
    [libs] = (tmp_path / "kafka").glob("*/libs")
    config = tmp_path / "controller.properties"
    config.write_text(f"process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n"
                      f"listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlog.dirs={tmp_path / 'meta'}\n")
    argfile = tmp_path / "arguments"
    argfile.write_bytes(java_argfile(storage_format_arguments("-sa-KocjQCWANrZuTbAryQ", str(config), scram_bootstrap_arguments(cluster))))
    java = ["java", "-Xmx256m", "-Dlog4j.configuration=file:/dev/null", "-cp", f"{libs}/*"]

    subprocess.run([*java, f"@{argfile}"], check=True, capture_output=True)
    dumped = subprocess.run([*java, "kafka.tools.DumpLogSegments", "--cluster-metadata-decoder", "--files",
                             str(tmp_path / "meta" / "bootstrap.checkpoint")], check=True, capture_output=True, text=True).stdout

    [record] = [json.loads(line.split("payload: ", 1)[1])["data"] for line in dumped.splitlines() if "USER_SCRAM_CREDENTIAL" in line]
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(record["salt"]), record["iterations"])
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    assert record["name"] == "admin"
    assert base64.b64encode(hashlib.sha512(client_key).digest()).decode() == record["storedKey"]


def test_the_znodes_are_secured_logged_in_as_a_broker_and_over_tls_with_its_settings() -> None:
    host = RecordingHost(BROKER)
    tls = CLUSTER.model_copy(update={"zookeeper_ssl_enabled": True})
    secure_znodes(host, tls, "zk1:2182,zk2:2182/kafka", "/etc/kafka/server.properties", "/etc/kafka/kafka_server_jaas.conf")
    command, = host.commands
    assert (" -Djava.security.auth.login.config=/etc/kafka/kafka_server_jaas.conf " in command
            and " kafka.admin.ZkSecurityMigrator --zookeeper.acl secure --zookeeper.connect zk1:2182,zk2:2182/kafka "
                "--zk-tls-config-file /etc/kafka/server.properties" in command), command
    with pytest.raises(TransportError, match="host kafka1.example.com: zookeeper.connect 'zk1:2181;id': .*; not used"):
        secure_znodes(host, CLUSTER, "zk1:2181;id", "/etc/kafka/server.properties", "/etc/kafka/kafka_server_jaas.conf")
    assert len(host.commands) == 1
