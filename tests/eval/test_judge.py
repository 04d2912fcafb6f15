"""The LLM judge, against the loopback fake server with scripted replies."""

import pytest

from llmkit.errors import LlmkitError
from llmkit.eval import Example, evaluate
from llmkit.eval.judge import Judge, open_judge, verdict
from llmkit.eval.report import table

from .fakes import scripted

EXAMPLES = [
    Example("1", "Where is caching?", answers=("per node",)),
    Example("2", "What bounds memory?", answers=("runs in flight",)),
    Example("3", "Anything else?", answers=("something",)),
    Example("4", "Unlabelled?"),
]


@pytest.mark.parametrize(("reply", "score"), [
    ("YES", 1.0), ("yes.", 1.0), ("  **No**, it does not", 0.0), ("Yesterday", None),
    ("I think yes", None), ("", None)])
def test_a_verdict_is_the_replys_first_word(reply, score):
    assert verdict(reply) == score


def test_the_judge_scores_answers_through_a_chat_model(fake_server):
    fake_server.control.config(replies={"cached per node": "YES", "The window does": "No."})
    result = evaluate(scripted(), EXAMPLES)
    judge = Judge(open_judge(fake_server.url + "/v1", "judge-model"), "judge-model")
    judge.score(result.outcomes)
    yes, no, unclear, unlabelled = result.outcomes
    assert yes.scores["judge"] == 1.0 and no.scores["judge"] == 0.0
    assert "judge" not in unclear.scores and unclear.verdict.startswith("answer ")
    assert unlabelled.verdict is None  # no gold answer: not asked
    assert result.mean("judge") == 0.5
    assert fake_server.control.stats()["requests"]["/v1/chat/completions"] == 3
    prompt = fake_server.control.stats()["last"]["/v1/chat/completions"]["messages"]
    assert prompt[0]["role"] == "system" and "YES" in prompt[0]["content"]
    assert "Reference answer:\n- something" in prompt[1]["content"]
    text = table([result], "judge-model at x")
    assert "judge*" in text.splitlines()[0]
    assert text.splitlines()[-1] == ("judge*: answers an LLM judged correct (its opinion, not a "
                                     "string match), by judge-model at x")


def test_a_failed_judge_call_leaves_the_answer_unjudged(fake_server):
    fake_server.control.faults(fail_with="400", fail_rate=1.0)
    result = evaluate(scripted(), EXAMPLES[:1])
    Judge(open_judge(fake_server.url + "/v1", "m"), "m").score(result.outcomes)
    assert "judge" not in result.outcomes[0].scores
    assert result.outcomes[0].verdict.startswith("judge failed:")


def test_the_judge_is_a_url_or_a_chat_resource_type(monkeypatch):
    monkeypatch.setenv("LLMKIT_MODEL", "from-env")
    assert open_judge("openai_chat").model == "from-env"
    assert open_judge("http://127.0.0.1:9/v1", "m").http.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(LlmkitError, match=r"a chat resource type: .*ollama_chat.*openai_chat"):
        open_judge("hashing")


def test_a_judge_without_a_model_says_how_to_name_one(monkeypatch):
    monkeypatch.delenv("LLMKIT_MODEL", raising=False)
    with pytest.raises(LlmkitError, match="Give --judge-model NAME or set LLMKIT_MODEL"):
        open_judge("http://127.0.0.1:9/v1")
