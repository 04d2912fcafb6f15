"""Where `llmkit run --input-file` writes: never over its own input, never a half line, and
an existing output file untouched until the run ends (docs/cli.md, "How --output FILE is
written")."""

import errno
import io
import json
import os
import subprocess
import sys

import pytest

from llmkit.cli import main, output
from llmkit.cli.output import LineWriter
from tests.cli.conftest import PIPELINES, assert_one_line_error, environment

GREET = PIPELINES / "greet.yaml"
INPUTS = '{"name": "a"}\n{"name": "b"}\n{"name": "c"}\n'


class FullDisk(io.FileIO):
    """A file with room for `room` bytes: a write past it stores what fits, then the next
    one fails with ENOSPC, as a full disk does."""

    room = 60

    def write(self, data: bytes) -> int:
        fits = self.room - self.tell()
        if fits <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(bytes(data[:fits]))


def full_disk(file, mode, buffering=-1, **kwargs):  # `open(fd, "wb", buffering=0)`
    return FullDisk(file, mode, **kwargs)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "in.jsonl").write_text(INPUTS)
    return tmp_path


@pytest.mark.parametrize("output", ["in.jsonl", "link.jsonl", "hard.jsonl"])
def test_an_output_that_is_the_input_file_is_refused_and_the_input_kept(llmkit, files, output):
    os.symlink("in.jsonl", files / "link.jsonl")
    os.link(files / "in.jsonl", files / "hard.jsonl")
    result = llmkit("run", GREET, "--input-file", "in.jsonl", "--output", output, "--no-cache")
    assert_one_line_error(result, f"--output {output} is the input file in.jsonl: writing the "
                                  "results there would destroy the inputs")
    assert (files / "in.jsonl").read_text() == INPUTS


@pytest.mark.parametrize(("stdin", "stdout", "args", "where"), [
    ("in.jsonl", None, ("--input-file", "-", "--output", "in.jsonl"), "--output in.jsonl"),
    (None, "in.jsonl", ("--input-file", "in.jsonl"), "stdout"),
], ids=["stdin-to-output", "input-appended-to-stdout"])
def test_redirected_input_or_output_that_is_the_input_file_is_refused(files, stdin, stdout,
                                                                      args, where):
    with open(files / (stdin or "in.jsonl")) as source, open(files / "in.jsonl", "a") as sink:
        proc = subprocess.run([sys.executable, "-m", "llmkit", "run", GREET, *args,
                               "--no-cache"], cwd=files, env=environment(), text=True,
                              stdin=source if stdin else None,
                              stdout=sink if stdout else subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"llmkit: error: {where} is the input file ")
    assert (files / "in.jsonl").read_text() == INPUTS


def test_a_full_device_as_output_is_one_line_naming_it(llmkit, files):
    result = llmkit("run", GREET, "--input-file", "in.jsonl", "--output", "/dev/full",
                    "--no-cache")
    assert_one_line_error(result, "/dev/full: cannot write the results: No space left on "
                                  "device")


def test_a_failed_write_leaves_the_existing_output_as_it_was_and_no_temporary_file(
        files, monkeypatch, capsys):
    (files / "out.jsonl").write_text("the results of yesterday\n")
    monkeypatch.setattr(output, "open", full_disk, raising=False)
    code = main(["run", str(GREET), "--input-file", str(files / "in.jsonl"), "--output",
                 str(files / "out.jsonl"), "--no-cache"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"llmkit: error: {files / 'out.jsonl'}: cannot write the results: No space left on "
        "device; the file is left as it was\n")
    assert (files / "out.jsonl").read_text() == "the results of yesterday\n"
    assert sorted(p.name for p in files.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_a_failed_write_to_a_regular_file_cuts_it_back_to_its_last_whole_line(tmp_path):
    path = tmp_path / "stdout.jsonl"
    path.write_bytes(b"a line of the shell's\n")
    with FullDisk(os.open(path, os.O_WRONLY | os.O_APPEND), "w") as raw:
        writer = LineWriter(raw, "<stdout>")
        writer.write(b'{"index": 0, "y": 1}\n')  # 22 + 21 bytes: fits in 60
        with pytest.raises(OSError) as caught:
            writer.write(b'{"index": 1, "y": "a longer line that does not fit"}\n')
    assert (caught.value.filename, caught.value.errno) == ("<stdout>", errno.ENOSPC)
    assert path.read_bytes() == b'a line of the shell\'s\n{"index": 0, "y": 1}\n'


def test_the_output_replaces_a_file_through_its_symlink_and_keeps_its_mode(llmkit, files):
    (files / "out.jsonl").write_text("old\n")
    os.chmod(files / "out.jsonl", 0o640)
    os.symlink("out.jsonl", files / "link.jsonl")
    result = llmkit("run", GREET, "--input-file", "in.jsonl", "--output", "link.jsonl",
                    "--no-cache")
    assert result.code == 0, result.err
    assert os.readlink(files / "link.jsonl") == "out.jsonl"
    assert sorted(json.loads(line)["greeting"] for line in
                  (files / "out.jsonl").read_text().splitlines()) == [
        "Hello, a!!!", "Hello, b!!!", "Hello, c!!!"]
    assert os.stat(files / "out.jsonl").st_mode & 0o777 == 0o640
    assert sorted(p.name for p in files.iterdir()) == ["in.jsonl", "link.jsonl", "out.jsonl"]


def test_a_reader_that_leaves_the_pipe_early_ends_the_run_quietly(files):
    (files / "many.jsonl").write_text("".join(json.dumps({"x": i}) + "\n" for i in range(300)))
    proc = subprocess.Popen([sys.executable, "-m", "llmkit", "run", PIPELINES / "slow.yaml",
                             "--input-file", "many.jsonl", "--allow-import", "--no-cache"],
                            cwd=files, env=environment(SLOW_DELAY="0.01"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["index"] >= 0
    proc.stdout.close()  # `llmkit run ... | head -1`
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), err) == (0, "")
