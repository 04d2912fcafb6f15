"""The extractive answerer reads table rows and list items, matches stems, prefers the
candidate that answers, says NOT_FOUND for unrelated context, and keeps citations."""

from __future__ import annotations

import pytest

from llmkit.nodes.generation.extractive import NOT_FOUND, ExtractiveGenerator
from llmkit.nodes.generation.passages import candidates as all_candidates
from llmkit.nodes.retrieval.stemming import stem


def candidates(context: str) -> list[tuple[int | None, str]]:
    """(citation, text) of each candidate of the context."""
    return [(n, text) for n, text, _ in all_candidates(context)]


TABLE = """[1] ## Exit codes

The command exits with one of these codes.

| exit code | what it means |
| --- | --- |
| 0 | everything succeeded |
| 2 | bad usage or an invalid pipeline file |
| 130 | interrupted by Ctrl-C |
"""

LIST = """[1] The scheduler flushes a batch in three cases:

- when the queue holds max_batch items
- when no other run can still reach the node
- once max_wait_ms has passed since the first item
"""


def test_a_table_row_is_an_answer_that_reads_header_and_cell():
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "Which exit code means I pressed Ctrl-C?", TABLE)
    assert answer == "exit code: 130; what it means: interrupted by Ctrl-C [1]"
    assert [text for _, text in candidates(TABLE)] == [  # the header row is no answer
        "The command exits with one of these codes.",
        "exit code: 0; what it means: everything succeeded",
        "exit code: 2; what it means: bad usage or an invalid pipeline file",
        "exit code: 130; what it means: interrupted by Ctrl-C"]


def test_a_row_of_a_table_cut_above_its_header_reads_its_cells():
    cut = "[1] | 130 | interrupted by Ctrl-C |\n| 131 | something else entirely |\n"
    assert candidates(cut) == [(1, "130; interrupted by Ctrl-C"),
                               (1, "131; something else entirely")]


def test_each_list_item_is_a_candidate_of_its_own():
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "How long can the first item wait?", LIST)
    assert answer == "once max_wait_ms has passed since the first item [1]"


def test_words_match_by_their_stem():
    context = "[1] The scheduler flushes a batch when no run can reach it.\n\n" \
              "[2] Results are cached per item, never per batch."
    answer = ExtractiveGenerator(max_sentences=1).generate("When are batches flushed?", context)
    assert answer == "The scheduler flushes a batch when no run can reach it. [1]"
    assert {stem(w) for w in ("flushed", "flushes", "flushing", "flush")} == {"flush"}
    assert stem("relational") == "relat" and stem("hopping") == "hop"  # Porter's own examples


def test_a_quantity_question_prefers_the_candidate_with_a_number():
    context = ("[1] The window bounds the runs in flight of a batch run.\n\n"
               "[2] By default the window is 1024 runs.")
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "How many runs does the window hold?", context)
    assert answer == "By default the window is 1024 runs. [2]"


def test_an_unrelated_context_gives_not_found():
    # "server" is the one word of five the context holds: under a quarter of the question.
    context = ("[1] The cache stores results per item in SQLite. Keys are BLAKE2b hashes.\n\n"
               "[2] A Redis server can hold the cache of many processes.")
    gen = ExtractiveGenerator()
    question = "Which port does the Ollama server listen on by default?"
    assert gen.generate(question, context) == NOT_FOUND
    assert gen.generate("Which hash do cache keys use?", context) != NOT_FOUND


def test_citations_follow_each_sentence_in_context_order():
    context = "[1] Paris is the capital of France.\n\n[2] Berlin is the capital of Germany."
    answer = ExtractiveGenerator(min_ratio=0).generate("capital France Germany", context)
    assert answer == "Paris is the capital of France. [1] Berlin is the capital of Germany. [2]"


def test_code_is_never_a_candidate_even_in_a_chunk_cut_inside_a_fence():
    cut = ('[1] p.add("embed", Embed(), text="question")\n'
           'p.outputs(answer="generate.answer")\n```\n\n'
           "Values are stored as msgpack with a checksum.\n")
    assert candidates(cut) == [(1, "Values are stored as msgpack with a checksum.")]
    fenced = "[1] Run it like this:\n\n```\nllmkit run the pipeline file here\n```\n"
    assert candidates(fenced) == [(1, "Run it like this:")]
    aligned = "[1] llmkit.cache      result cache: keys and stores\nllmkit.core   the engine\n"
    assert candidates(aligned) == []


@pytest.mark.parametrize("question", ["", "What is it?", "   "])
def test_questions_without_content_words_give_not_found(question):
    assert ExtractiveGenerator().generate(question, TABLE) == NOT_FOUND



def test_a_sentence_repeating_one_already_chosen_is_skipped_for_the_next_best():
    # two chunks overlap (or a table row restates a sentence): say it once, then go on
    context = ("[1] The window bounds the runs in flight at once.\n\n"
               "[2] The window bounds the runs in flight at once, by default.\n\n"
               "[3] Memory stays flat because the window bounds the runs.")
    answer = ExtractiveGenerator(max_sentences=2).generate("What does the window bound?",
                                                           context)
    assert answer.count("runs in flight") == 1 and "Memory stays flat" in answer


def test_the_better_ranked_chunk_wins_over_one_that_adds_only_a_common_word():
    # "llmkit" is in nearly every candidate: holding it too is no reason to skip chunk [1]
    fillers = " ".join(f"Note {i} of llmkit is here." for i in range(18))
    context = ("[1] The window bounds the runs in flight.\n\n"
               "[2] In llmkit the window of a run is bounded too.\n\n"
               f"[3] {fillers}")
    question = "What does the window bound in llmkit?"
    answer = ExtractiveGenerator(max_sentences=1).generate(question, context)
    assert answer == "The window bounds the runs in flight. [1]"
    flat = ExtractiveGenerator(max_sentences=1, rank_weight=0).generate(question, context)
    assert flat == "In llmkit the window of a run is bounded too. [2]"


def test_how_many_and_go_are_question_framing_so_matching_them_alone_is_not_an_answer():
    context = ("[1] Many callers go through one batch.\n\n"
               "[2] Results are cached per item in SQLite.")
    gen = ExtractiveGenerator()
    assert gen.generate("How many replicas go to each queue?", context) == NOT_FOUND
    assert gen.generate("How many callers share a batch?", context) != NOT_FOUND


def test_a_sentence_cut_between_two_consecutive_chunks_is_read_whole():
    # chunk [2] ends mid-sentence and chunk [1] starts with the overlap that continues it
    first = ("The index checks its files when it opens. A full disk while saving is an "
             "IndexWriteError naming the index path")
    second = ("IndexWriteError naming the index path, and ingest leaves the previous index "
              "unchanged. Vectors are written with plain writes.")
    context = f"[1] {second}\n\n[2] {first}"
    whole = ("A full disk while saving is an IndexWriteError naming the index path, and ingest "
             "leaves the previous index unchanged.")
    assert (2, whole) in candidates(context)
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "What happens when the disk is full during ingest?", context)
    assert answer == f"{whole} [2]"
    apart = f"[1] {second}\n\n[2] {first.replace('index path', 'folder')}"
    assert not any("full disk" in text and "unchanged" in text for _, text in candidates(apart))


def test_a_where_question_prefers_the_candidate_naming_a_path():
    context = ("[1] A new cache store is registered with a URL scheme in the cache module.\n\n"
               "[2] The code of a cache store goes in `llmkit/cache/stores/NAME.py`.")
    question = "Where should I put the code of a new cache store?"
    gen = ExtractiveGenerator(max_sentences=1, rank_weight=0, rank_bonus=0)
    assert gen.generate(question, context).endswith("[2]")
    blind = ExtractiveGenerator(max_sentences=1, rank_weight=0, rank_bonus=0, place_bonus=0)
    assert blind.generate(question, context).endswith("[1]")

