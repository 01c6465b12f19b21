"""console/common/safe_write.py and the run folder's writers: nothing is ever written through a link, a FIFO, a
device or a hard link planted at a name the console writes (issue 27: `.status-reserve` -> ~/file got 256 KiB of
zero bytes, train.log / metrics.jsonl / samples.jsonl links got lines appended to their targets)."""
import os
import threading

import pytest

from console.common.errors import RunError, UserError
from console.common.files import atomic_write
from console.common.safe_write import NotOwnFile, check_own, open_append, open_lock, replace_file, touch, write_new
from console.config.run_config import build_config, resolve
from console.runs.launcher import request_save
from console.runs.report import Reporter
from console.runs.rundir import check_runs_dir, create_run

PRECIOUS = "the user's own file\n"


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text(PRECIOUS)
    return path


def _one_line(err: BaseException, *words: str) -> None:
    text = str(err)
    assert "\n" not in text and all(w in text for w in words), text


def test_append_refuses_a_link_and_leaves_its_target_alone(tmp_path, victim):
    link = tmp_path / "train.log"
    os.symlink(victim, link)
    with pytest.raises(NotOwnFile) as err:
        open_append(link)
    _one_line(err.value, str(link), "link", str(victim))
    assert isinstance(err.value, UserError) and isinstance(err.value, OSError)
    assert victim.read_text() == PRECIOUS and link.is_symlink()


def test_append_refuses_a_dangling_link_without_creating_its_target(tmp_path):
    link = tmp_path / "metrics.jsonl"
    target = tmp_path / "elsewhere" / "made.txt"
    target.parent.mkdir()
    os.symlink(target, link)
    with pytest.raises(NotOwnFile, match="link"):
        open_append(link)
    assert not target.exists()


def test_append_refuses_a_hard_link(tmp_path, victim):
    name = tmp_path / "samples.jsonl"
    os.link(victim, name)
    with pytest.raises(NotOwnFile) as err:
        open_append(name)
    _one_line(err.value, str(name), "2 names")
    assert victim.read_text() == PRECIOUS


def test_append_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(pytest.raises(NotOwnFile, open_append, fifo)))
    worker.start()
    worker.join(10)
    assert done, "opening a FIFO to append blocked"
    # with a reader at the other end the open succeeds at the kernel: the descriptor's type refuses it
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(NotOwnFile, match="not a file the console wrote"):
            open_append(fifo)
    finally:
        os.close(reader)


def test_append_refuses_a_folder(tmp_path):
    (tmp_path / "metrics.jsonl").mkdir()
    with pytest.raises(OSError):
        open_append(tmp_path / "metrics.jsonl")


def test_append_to_its_own_file_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with open_append(path) as f:
        f.write("one\n")
    with open_append(path) as f:
        f.write("two\n")
    with open_append(path, text=False) as f:
        f.write(b"three\n")
    assert path.read_text() == "one\ntwo\nthree\n"


def test_write_new_replaces_its_own_file_and_refuses_a_link(tmp_path, victim):
    path = tmp_path / ".status-reserve"
    write_new(path, b"\0" * 10)
    write_new(path, b"\0" * 20)
    assert path.read_bytes() == b"\0" * 20
    path.unlink()
    os.symlink(victim, path)
    with pytest.raises(NotOwnFile, match="link"):
        write_new(path, b"\0" * 10)
    assert victim.read_text() == PRECIOUS


def test_a_lock_is_never_taken_through_a_link(tmp_path):
    target = tmp_path / "made-by-following.txt"
    os.symlink(target, tmp_path / ".trainer.lock")
    with pytest.raises(NotOwnFile, match="link"):
        open_lock(tmp_path / ".trainer.lock")
    assert not target.exists()
    fd = open_lock(tmp_path / "own.lock")
    os.close(fd)


def test_atomic_write_replaces_a_link_never_writes_through_it(tmp_path, victim):
    link = tmp_path / "status.json"
    os.symlink(victim, link)
    atomic_write(link, "{}")
    assert not link.is_symlink() and link.read_text() == "{}"
    assert victim.read_text() == PRECIOUS


def test_replace_file_keeps_a_users_link_and_says_so(tmp_path, victim):
    link = tmp_path / "imported.yaml"
    os.symlink(victim, link)
    with pytest.raises(NotOwnFile) as err:
        replace_file(link, "method: lora\n")
    _one_line(err.value, str(link), "link")
    assert link.is_symlink() and victim.read_text() == PRECIOUS
    replace_file(tmp_path / "plain.yaml", "a: 1\n")
    replace_file(tmp_path / "plain.yaml", "a: 2\n")
    assert (tmp_path / "plain.yaml").read_text() == "a: 2\n"


def test_touch_never_touches_a_links_target(tmp_path, victim):
    os.utime(victim, (1_000_000, 1_000_000))
    os.symlink(victim, tmp_path / ".heartbeat")
    touch(tmp_path / ".heartbeat")
    assert victim.stat().st_mtime == 1_000_000


def test_check_own_names_what_is_there(tmp_path, victim):
    check_own(tmp_path / "missing")  # made later: fine
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotOwnFile, match="FIFO"):
        check_own(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    check_own(tmp_path / "folder", folder=True)
    with pytest.raises(NotOwnFile, match="a folder"):
        check_own(tmp_path / "folder")


# -- the run folder's writers ------------------------------------------------------------------------------------

@pytest.fixture
def run(tmp_path):
    return create_run(tmp_path / "runs", resolve(build_config("lora")), command=["test"])


def test_the_status_reserve_never_overwrites_a_links_target_and_is_left_for_the_user(run, victim):
    os.symlink(victim, run.path / ".status-reserve")
    report = Reporter(run)
    with pytest.raises(NotOwnFile, match=r"\.status-reserve"):
        report.reserve_space()
    report.release_space()  # not its own: left where it is, for the user to see (today it removed the link)
    assert victim.read_text() == PRECIOUS and (run.path / ".status-reserve").is_symlink()
    (run.path / ".status-reserve").unlink()
    report.reserve_space()
    assert (run.path / ".status-reserve").stat().st_size == 256 * 1024
    report.release_space()
    assert not (run.path / ".status-reserve").exists()


def test_the_heartbeat_never_touches_a_links_target_nor_takes_its_time(run, victim):
    os.utime(victim, (1_000_000, 1_000_000))
    os.symlink(victim, run.heartbeat)
    Reporter(run).heartbeat(None)
    assert victim.stat().st_mtime == 1_000_000
    # a link to a busy file elsewhere does not make a silent trainer look at work: the link's own time counts
    for path in (run.heartbeat, run.metrics_path, run.status_json):
        os.utime(path, (2_000_000, 2_000_000), follow_symlinks=False)
    os.utime(victim, None)  # the target: written just now
    assert run.last_activity() == 2_000_000


def test_a_run_folder_with_a_planted_link_is_named_by_its_check(run, victim):
    run.check_own_files()  # a fresh run: nothing foreign
    for name in ("train.log", "samples.jsonl", "config.yaml", ".summary.json", ".history.json"):
        link = run.path / name
        aside = run.path.parent / f"aside-{name}"
        if link.exists():
            os.rename(link, aside)
        os.symlink(victim, link)
        with pytest.raises(NotOwnFile) as err:
            run.check_own_files()
        _one_line(err.value, name, "link")
        link.unlink()
        if aside.exists():
            os.rename(aside, link)
    deep = run.checkpoints / "checkpoint-4"
    deep.mkdir(parents=True)
    os.link(victim, deep / "optimizer.pt")  # torch.save writes "wb": through a hard link to the user's file
    with pytest.raises(NotOwnFile, match="optimizer.pt"):
        run.check_own_files()
    assert victim.read_text() == PRECIOUS


def test_a_save_request_is_never_written_through_a_link(run, victim):
    os.symlink(victim, run.save_request)
    assert request_save(run)
    assert victim.read_text() == PRECIOUS and not run.save_request.is_symlink()


def test_the_runs_folder_probe_never_writes_through_a_link(tmp_path, victim):
    runs = tmp_path / "runs"
    runs.mkdir()
    os.symlink(victim, runs / f".write-test-{os.getpid()}")
    with pytest.raises(RunError, match="link"):
        check_runs_dir(runs)
    assert victim.read_text() == PRECIOUS


# -- files the user names ----------------------------------------------------------------------------------------

def test_import_force_never_writes_through_a_link_at_its_output(tmp_path, victim, capsys):
    from pathlib import Path

    from console.cli.main import main

    source = Path(__file__).parents[1] / "support" / "fixtures" / "foreign" / "llamafactory" / "lora_sft.yaml"
    out = tmp_path / "ours.yaml"
    os.symlink(victim, out)
    assert main(["import", str(source), "-o", str(out)]) == 2  # without --force: it exists
    capsys.readouterr()
    assert main(["import", str(source), "-o", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert "link" in err and str(out) in err and len(err.strip().splitlines()) == 1, err
    assert victim.read_text() == PRECIOUS and out.is_symlink()
    out.unlink()
    assert main(["import", str(source), "-o", str(out), "--force"]) == 0
    assert "method:" in out.read_text()
