"""Kafka's tools start from shared class data that their first run makes (kafkactl/kafka_tools.py java_tool), run here
by a shell with this machine's JVM as a host runs them: the tool's answer alone on stdout, its exit status kept,
the archive root's alone and kept only from a run that ended well, and a tool that runs all the same where no
archive can be made."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kafkactl import kafka_tools
from kafkactl.kafka_tools import java_tool, tool_class_data
from kafkactl.model import ClusterVars

pytestmark = pytest.mark.skipif(not (shutil.which("javac") and shutil.which("java")), reason="needs a JDK")

ECHO = """
public class Echo {
    public static void main(String[] args) {
        System.out.println("answer " + String.join(" ", args));
        System.exit(args.length > 0 && args[0].equals("fail") ? 3 : 0);
    }
}
"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterVars:
    """A Kafka install whose libs/ holds one tool, and the class data kept under tmp_path."""
    source = tmp_path / "src" / "Echo.java"
    source.parent.mkdir()
    source.write_text(ECHO)
    subprocess.run(["javac", "-d", str(source.parent), str(source)], check=True, timeout=120)
    cluster = ClusterVars(archive_destination_path=str(tmp_path / "opt"), java_executable=shutil.which("java"))
    libs = Path(cluster.kafka_home) / "libs"
    libs.mkdir(parents=True)
    subprocess.run(["jar", "cf", str(libs / "echo.jar"), "-C", str(source.parent), "Echo.class"], check=True, timeout=120)
    monkeypatch.setattr(kafka_tools, "TOOL_CLASS_DATA", str(tmp_path / "class-data"))
    return cluster


def _run(cluster: ClusterVars, *args: str, jvm: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", java_tool(cluster, "Echo", list(args), heap="64m", jvm=jvm).text],
                          capture_output=True, text=True, timeout=120)


def test_the_first_run_makes_the_class_data_and_the_next_start_from_it(cluster: ClusterVars, tmp_path: Path) -> None:
    first = _run(cluster, "a", "b c")
    assert (first.returncode, first.stdout) == (0, "answer a b c\n"), first.stderr  # no class-data warning on stdout
    [archive] = Path(tool_class_data(cluster)).parent.glob(Path(tool_class_data(cluster)).name + "-*.jsa")
    assert archive.parent == tmp_path / "class-data"
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700 and not archive.stat().st_mode & 0o022
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # no temporary file left

    loaded = tmp_path / "class-load.log"
    second = _run(cluster, "again", jvm=[f"-Xlog:class+load=info:file={loaded}"])
    assert (second.returncode, second.stdout) == (0, "answer again\n"), second.stderr
    assert "Echo source: shared objects file (top)" in loaded.read_text()


def test_a_failed_run_keeps_its_exit_status_and_leaves_no_class_data(cluster: ClusterVars, tmp_path: Path) -> None:
    failed = _run(cluster, "fail")
    assert (failed.returncode, failed.stdout) == (3, "answer fail\n")
    assert list((tmp_path / "class-data").iterdir()) == []


def test_without_a_place_for_class_data_the_tool_runs_all_the_same(cluster: ClusterVars, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(kafka_tools, "TOOL_CLASS_DATA", str(tmp_path / "a-file" / "class-data"))
    ran = _run(cluster, "x")
    assert (ran.returncode, ran.stdout) == (0, "answer x\n"), ran.stderr


def test_a_java_upgraded_in_place_gets_class_data_of_its_own(cluster: ClusterVars, tmp_path: Path) -> None:
    """The same java path, another build (a package upgrade rewrites the launcher and libjvm): the archive the old
    build made is not what the new one starts from (the JVM would silently ignore it); a new one replaces it."""
    launcher = tmp_path / "jdk" / "bin" / "java"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(f"#!/bin/sh\nexec {shutil.which('java')} \"$@\"\n")
    launcher.chmod(0o755)
    cluster = cluster.model_copy(update={"java_executable": str(launcher)})
    assert _run(cluster, "old").returncode == 0
    [old] = (tmp_path / "class-data").iterdir()
    os.utime(launcher, (1_700_000_000, 1_700_000_000))
    assert (_run(cluster, "new").returncode, _run(cluster, "again").stdout) == (0, "answer again\n")
    [new] = (tmp_path / "class-data").iterdir()
    assert new.name != old.name and new.name.endswith(".jsa")
