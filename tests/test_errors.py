"""Bad input gets a clear error naming the record and the field, before any model work."""
import pytest

from cdr_utils import DensityRatioReward, LogProbScorer, RecordError
from cdr_utils.chat import PLAIN_CHAT_TEMPLATE

OK = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def scorer(tiny_llama):
    return LogProbScorer(*tiny_llama)


@pytest.mark.parametrize("prompt,field,text", [
    (OK + [{"role": "assistant", "content": "Hello"}], "prompt[1].role", "ends with an assistant turn"),
    ([], "prompt", "non-empty list"),
    ("Hi", "prompt", "non-empty list"),
    ([{"role": "user", "content": 3}], "prompt[0].content", "must be a string, got int"),
    ([{"role": "user", "content": None}], "prompt[0].content", "must be a string, got NoneType"),
    ([{"role": "bot", "content": "Hi"}], "prompt[0].role", "unknown role 'bot'"),
    ([{"content": "Hi"}], "prompt[0]", "with 'role' and 'content'"),
])
def test_bad_prompt_names_record_and_field(scorer, prompt, field, text):
    with pytest.raises(RecordError) as err:
        scorer.score([OK, prompt], ["fine", "fine"])
    msg = str(err.value)
    assert msg.startswith(f"record 1, field '{field}'") and text in msg, msg


@pytest.mark.parametrize("response,text", [(None, "must be a string"), (5, "must be a string"),
                                           ("", "empty"), ("  \n", "empty")])
def test_bad_response(scorer, response, text):
    with pytest.raises(RecordError, match=rf"record 0, field 'response': .*{text}"):
        scorer.score([OK], [response])


def test_record_ids_name_the_record(scorer):
    with pytest.raises(RecordError, match=r"record 'ex-7', field 'prompt\[0\].role'"):
        scorer.score([OK, [{"role": "robot", "content": "x"}]], ["a", "b"], record_ids=["ex-3", "ex-7"])


def test_mismatched_lengths(scorer):
    with pytest.raises(ValueError, match="differ in length: 2 != 1"):
        scorer.score([OK, OK], ["a"])


def test_tokenizer_without_chat_template(tiny_llama):
    model, tok = tiny_llama
    saved = tok.chat_template
    try:
        tok.chat_template = None
        with pytest.raises(ValueError, match="has no chat template; pass chat_template="):
            LogProbScorer(model, tok)
        # an explicit template is accepted
        res = LogProbScorer(model, tok, chat_template=PLAIN_CHAT_TEMPLATE).score([OK], ["Hello"])
        assert res.n_tokens[0] > 0
    finally:
        tok.chat_template = saved


def test_response_longer_than_context_errors_or_truncates_with_counts(tiny_llama):
    model, tok = tiny_llama  # context: 512 positions
    long_prompt = [{"role": "user", "content": "word " * 600}]
    with pytest.raises(RecordError, match=r"record 1, field 'response': prompt \+ response take \d+ input tokens, "
                                          r"more than the model's context of 512"):
        LogProbScorer(model, tok).score([OK, long_prompt], ["fine", "Hello there"])
    short = LogProbScorer(model, tok).score([OK], ["Hello there"])
    cut = LogProbScorer(model, tok, truncation="left").score([OK, long_prompt], ["Hello there", "Hello there"])
    assert cut.n_truncated[0] == 0 and cut.n_truncated[1] > 0
    assert cut.n_tokens[1] == short.n_tokens[0]  # the response is never cut
    with pytest.raises(RecordError, match="the response alone"):
        LogProbScorer(model, tok, truncation="left").score([OK], ["word " * 600])


def test_no_model_work_before_validation(tiny_llama, tiny_gpt2):
    """A bad last record fails before either model runs a single forward pass."""
    calls = []
    strong, weak = LogProbScorer(*tiny_llama), LogProbScorer(*tiny_gpt2)
    hooks = [m.model.register_forward_pre_hook(lambda *a: calls.append(1)) for m in (strong, weak)]
    try:
        with pytest.raises(RecordError, match="record 2"):
            DensityRatioReward(strong, weak).score([OK, OK, [{"role": "user", "content": 1}]], ["a", "b", "c"])
    finally:
        for h in hooks:
            h.remove()
    assert calls == []


def test_bad_reduction():
    from cdr_utils import density_ratio

    with pytest.raises(ValueError, match="reduction must be one of"):
        density_ratio(None, None, reduction="max")
