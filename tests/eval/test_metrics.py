"""The metrics, one question at a time: worked examples, then properties over random
rankings (hypothesis)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.eval.metrics import (
    contains,
    exact,
    hit_at_k,
    matched,
    mrr,
    ndcg,
    normalise,
    recall_at_k,
    token_f1,
)


def ranked(*sources):
    return [[s] for s in sources]


def test_a_gold_source_matches_equal_suffix_and_substring_names():
    gold = ["cache.md"]
    assert matched(ranked("cache.md"), gold, 4) == [1]
    assert matched(ranked("docs/cache.md"), gold, 4) == [1]
    assert matched(ranked("docs/cache.md#3"), gold, 4) == [1]
    assert matched(ranked("docs/cli.md"), gold, 4) == [0]


def test_a_mapping_source_matches_by_any_of_its_names():
    assert matched([["docs/a.md", "chunk-7"]], ["chunk-7"], 4) == [1]


def test_each_gold_source_counts_once_however_many_chunks_match():
    ranks = ranked("a.md#1", "a.md#2", "b.md#1")
    assert matched(ranks, ["a.md", "b.md"], 4) == [1, 0, 1]
    assert recall_at_k(ranks, ["a.md", "b.md"], 4) == 1.0
    assert recall_at_k(ranks, ["a.md", "b.md"], 2) == 0.5


def test_hit_and_mrr_look_only_at_the_top_k():
    ranks = ranked("x", "y", "gold")
    assert hit_at_k(ranks, ["gold"], 3) == 1.0
    assert hit_at_k(ranks, ["gold"], 2) == 0.0
    assert mrr(ranks, ["gold"], 3) == pytest.approx(1 / 3)
    assert mrr(ranks, ["gold"], 2) == 0.0


def test_ndcg_of_a_known_ranking():
    # relevant at ranks 2 and 3, two gold sources: (1/log2 3 + 1/log2 4) / (1 + 1/log2 3)
    value = ndcg(ranked("x", "a", "b"), ["a", "b"], 4)
    assert value == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))


def test_no_gold_sources_scores_zero_not_an_error():
    assert recall_at_k(ranked("a"), [], 4) == 0.0
    assert ndcg(ranked("a"), [], 4) == 0.0


def test_answers_are_compared_case_folded_with_whitespace_normalised():
    assert normalise("  Runs\n in   FLIGHT ") == "runs in flight"
    assert contains("The window bounds the runs  in\nflight.", ["Runs in flight"]) == 1.0
    assert contains("The window bounds memory.", ["runs in flight", "other"]) == 0.0
    assert exact(" Per  Node ", ["per node"]) == 1.0
    assert exact("per node, always", ["per node"]) == 0.0


def test_token_f1_is_the_best_over_the_gold_answers():
    assert token_f1("the cache is per node", ["per node"]) == pytest.approx(2 * 0.4 / 1.4)
    assert token_f1("per node", ["per node", "node cache"]) == 1.0
    assert token_f1("unrelated", ["per node"]) == 0.0


names = st.text(alphabet="abcdefgh", min_size=3, max_size=3)


@given(st.lists(names, max_size=12), st.lists(names, min_size=1, max_size=5),
       st.integers(1, 10))
def test_every_metric_is_between_0_and_1(retrieved, gold, k):
    ranks = ranked(*retrieved)
    for metric in (hit_at_k, recall_at_k, mrr, ndcg):
        assert 0.0 <= metric(ranks, gold, k) <= 1.0 + 1e-12


@given(st.lists(names, min_size=1, max_size=6, unique=True), st.integers(1, 10))
def test_the_gold_sources_ranked_first_score_1(gold, k):
    ranks = ranked(*gold, "zzz-unrelated")
    assert hit_at_k(ranks, gold, k) == mrr(ranks, gold, k) == 1.0
    assert ndcg(ranks, gold, k) == pytest.approx(1.0)
    assert recall_at_k(ranks, gold, k) == pytest.approx(min(k, len(gold)) / len(gold))


@given(st.lists(names, min_size=2, max_size=8), st.lists(names, min_size=1, max_size=3))
def test_a_relevant_source_moved_up_never_lowers_mrr_or_ndcg(retrieved, gold):
    ranks = ranked(*retrieved)
    for i in range(1, len(ranks)):
        if matched(ranks, gold, len(ranks))[i] and not matched(ranks[i - 1:i], gold, 1)[0]:
            swapped = [*ranks[:i - 1], ranks[i], ranks[i - 1], *ranks[i + 1:]]
            k = len(ranks)
            assert mrr(swapped, gold, k) >= mrr(ranks, gold, k)
            assert ndcg(swapped, gold, k) >= ndcg(ranks, gold, k) - 1e-12


@given(st.text(max_size=40), st.lists(st.text(min_size=1, max_size=10), min_size=1,
                                      max_size=3))
def test_answer_metrics_are_between_0_and_1_and_exact_implies_contains(answer, golds):
    assert 0.0 <= token_f1(answer, golds) <= 1.0
    if exact(answer, golds):
        assert contains(answer, golds) == 1.0
