"""An index path only ever replaces an index llmkit wrote; a full disk and a damaged index
are one clear line with a way out, and nothing is left behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.index_dir import IndexLoadError, IndexPathError, IndexWriteError
from llmkit.nodes.retrieval.vector_index import VectorIndex
from llmkit.rag import RAGChain

ROOT = Path(__file__).resolve().parents[2]


def llmkit(*args):
    done = subprocess.run([sys.executable, "-m", "llmkit", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".llmkit-" in p.name]


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "glaciers.md").write_text("# Glaciers\n\nGlaciers carve U-shaped valleys.\n")
    (folder / "volcanoes.md").write_text("# Volcanoes\n\nMagma rises through the crust.\n")
    return folder


# -- never replace what llmkit did not create ---------------------------------------------

def test_an_index_path_that_is_a_user_folder_is_refused_and_left_as_it_was(tmp_path, docs):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.md").write_text("years of work")
    (mine / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = snapshot(mine)
    with pytest.raises(IndexPathError, match=r"'.*mine' is not empty and is not an llmkit index"):
        Corpus(mine, source=str(docs))
    with pytest.raises(IndexPathError):
        Corpus(mine)
    with pytest.raises(IndexPathError):
        VectorIndex(2).save(mine)
    code, _, err = llmkit("ingest", docs, "--index", mine)
    assert code == 2 and err.count("\n") == 1 and "not an llmkit index" in err
    assert snapshot(mine) == before and leftovers(tmp_path) == []


def test_the_documents_folder_as_its_own_index_is_refused(docs):
    before = snapshot(docs)
    with pytest.raises(IndexPathError, match="is the documents"):
        RAGChain.from_documents(str(docs), index=str(docs))
    code, _, err = llmkit("ingest", docs, "--index", docs)
    assert code == 2 and err.count("\n") == 1 and "is the documents" in err
    assert snapshot(docs) == before and leftovers(docs.parent) == []


def test_an_index_path_inside_the_documents_is_refused_unless_a_hidden_folder_holds_it(docs):
    with pytest.raises(IndexPathError, match="is inside the documents"):
        Corpus(docs / "index", source=str(docs))
    with pytest.raises(IndexPathError, match="is inside the documents"):
        Corpus(docs / "index").ingest(docs)
    assert not (docs / "index").exists()
    hidden = docs / ".llmkit" / "index"
    assert len(Corpus(hidden, source=str(docs))) == 2
    assert Corpus(hidden).ingest(docs).unchanged == 2  # the index is not among the documents


def test_an_index_path_holding_the_documents_is_refused(tmp_path, docs):
    with pytest.raises(IndexPathError, match="holds the documents"):
        Corpus(tmp_path, source=str(docs))


def test_an_index_path_that_is_a_file_is_refused_and_not_moved_aside(tmp_path, docs):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    with pytest.raises(IndexPathError, match="is a file and is not an llmkit index"):
        Corpus(notes, source=str(docs))
    with pytest.raises(IndexPathError):
        BM25Index().save(notes)
    assert notes.read_text() == "keep me" and leftovers(tmp_path) == []


def test_an_index_holding_a_file_llmkit_did_not_write_is_refused(tmp_path, docs):
    index = tmp_path / "index"
    Corpus(index).ingest(docs)
    (index / "vectors" / "notes.md").write_text("mine")
    with pytest.raises(IndexPathError, match="not an llmkit index"):
        Corpus(index, source=str(docs))
    assert (index / "vectors" / "notes.md").read_text() == "mine"


def test_a_backup_name_holding_a_user_folder_is_refused(tmp_path, docs):
    backup = tmp_path / ".index.llmkit-old"
    backup.mkdir()
    (backup / "x.md").write_text("mine")
    with pytest.raises(IndexPathError, match=r"\.index\.llmkit-old"):
        Corpus(tmp_path / "index", source=str(docs))
    assert (backup / "x.md").read_text() == "mine"


def test_only_temporary_directories_named_by_llmkit_are_cleaned_up(tmp_path, docs):
    stale = tmp_path / f".index.llmkit-tmp-{'0123abcd' * 4}"
    stale.mkdir()
    (stale / "vectors.npy").write_bytes(b"half written")
    lookalike = tmp_path / ".index.llmkit-tmp-mine"
    lookalike.mkdir()
    (lookalike / "keep.md").write_text("mine")
    Corpus(tmp_path / "index").ingest(docs)
    assert not stale.exists()
    assert (lookalike / "keep.md").read_text() == "mine"


def test_an_index_written_before_markers_is_recognised_by_its_layout(tmp_path, docs):
    index = tmp_path / "index"
    Corpus(index).ingest(docs)

    def unmark():
        for marker in index.rglob("llmkit-index.msgpack"):
            marker.unlink()

    unmark()
    corpus = Corpus(index, source=str(docs))
    assert len(corpus) == 2
    (docs / "tides.md").write_text("# Tides\n\nThe moon pulls the oceans.\n")
    assert corpus.refresh().added == ["tides.md"]  # saved over the old index: now marked
    assert (index / "llmkit-index.msgpack").exists()
    unmark()
    (index / "bm25" / "extra.txt").write_text("mine")  # an old layout plus a stranger
    with pytest.raises(IndexPathError):
        Corpus(index, source=str(docs))
    assert (index / "bm25" / "extra.txt").read_text() == "mine"


def test_an_empty_folder_made_for_the_index_is_used(tmp_path, docs):
    (tmp_path / "index").mkdir()
    assert len(Corpus(tmp_path / "index", source=str(docs))) == 2
    assert len(Corpus(tmp_path / "index")) == 2


# -- a full disk -----------------------------------------------------------------------------

def test_a_full_disk_is_an_error_naming_the_index_and_leaves_the_old_one(tmp_path, docs,
                                                                         monkeypatch):
    index = tmp_path / "index"
    Corpus(index).ingest(docs)
    before = snapshot(index)
    write_bytes = Path.write_bytes

    def full(self, data):
        if self.name == "meta.msgpack":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    (docs / "tides.md").write_text("# Tides\n\nThe moon pulls the oceans.\n")
    with pytest.raises(IndexWriteError) as info:
        Corpus(index).ingest(docs)
    assert str(info.value) == (f"could not write the index at '{index.resolve()}': "
                               "No space left on device; free some space and run ingest again "
                               "(the previous index is unchanged)")
    assert snapshot(index) == before and leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (needs root on Linux)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_ingest_on_a_really_full_disk_exits_2_with_one_line_and_cleans_up(tmp_path, docs,
                                                                          small_disk):
    index = small_disk / "index"
    assert llmkit("ingest", docs, "--index", index)[0] == 0
    big = tmp_path / "big"
    big.mkdir()
    for i in range(300):  # ~450 KiB of vectors: more than the disk holds
        (big / f"doc{i}.md").write_text(f"Document {i} talks about rivers and deltas {i}.\n")
    code, _, err = llmkit("ingest", big, "--index", index)
    assert code == 2, err  # not -7: the old memory-mapped write died of SIGBUS
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"could not write the index at '{index}': No space left on device" in err
    assert leftovers(small_disk) == []
    assert len(Corpus(index)) == 2


# -- a damaged index -------------------------------------------------------------------------

@pytest.mark.parametrize("damaged", ["vectors/vectors.npy", "vectors/meta.msgpack",
                                     "bm25/bm25.msgpack", "manifest.msgpack"])
def test_a_flipped_byte_in_any_index_file_is_detected_on_open(tmp_path, docs, damaged):
    index = tmp_path / "index"
    Corpus(index).ingest(docs)
    file = index / damaged
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match=f"{Path(damaged).name} does not match its checksum"
                       f".*llmkit ingest SOURCE --index {index} --rebuild"):
        Corpus(index)


def test_a_flipped_byte_in_saved_vectors_is_not_served(tmp_path):
    vectors = VectorIndex(8)
    vectors.add([f"r{i}" for i in range(100)], np.random.default_rng(0).random((100, 8)))
    vectors.save(tmp_path / "v")
    file = tmp_path / "v" / "vectors.npy"
    data = bytearray(file.read_bytes())
    data[-7] ^= 0x10  # a float's byte: still a valid .npy file
    file.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match=r"vectors\.npy does not match its checksum"):
        VectorIndex.load(tmp_path / "v")


def test_ingest_rebuilds_a_damaged_index_and_rebuild_embeds_everything(tmp_path, docs):
    index = tmp_path / "index"
    assert llmkit("ingest", docs, "--index", index)[0] == 0
    (index / "vectors" / "vectors.npy").write_bytes(b"garbage")
    code, out, err = llmkit("ingest", docs, "--index", index)
    assert code == 0, err
    assert "is damaged" in err and "rebuilding it from" in err and "2 added" in out
    assert len(Corpus(index)) == 2
    code, out, _ = llmkit("ingest", docs, "--index", index)
    assert code == 0 and "2 unchanged" in out
    code, out, _ = llmkit("ingest", docs, "--index", index, "--rebuild")
    assert code == 0 and "2 added" in out
