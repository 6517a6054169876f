"""The control machine's state directory: private, ignored by git, written whole or not at all."""

from __future__ import annotations

import stat
import threading

from kafkactl import state_dir


def test_prepare_makes_a_private_directory_git_ignores(tmp_path) -> None:
    loose = tmp_path / "state"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert state_dir.prepare(loose) == loose
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    ignore = loose / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    assert stat.S_IMODE(ignore.stat().st_mode) == 0o600


def test_write_private_replaces_whole_files_and_never_follows_a_link(tmp_path) -> None:
    target = tmp_path / "cluster-id"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    target.symlink_to(elsewhere)
    state_dir.write_private(target, b"abc\n")
    assert not target.is_symlink() and target.read_bytes() == b"abc\n"
    assert elsewhere.read_text() == "untouched"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_create_once_lets_the_first_of_many_writers_win(tmp_path) -> None:
    target = tmp_path / "cluster-id"
    seen: list[bytes] = []
    threads = [threading.Thread(target=lambda i=i: seen.append(state_dir.create_once(target, f"id-{i}\n".encode())))
               for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and seen[0] == target.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["cluster-id"]
