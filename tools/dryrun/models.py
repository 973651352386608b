"""Random-weight stand-ins for the `paper` recipe's hub models: each model's architecture family (Mistral-7B or
Llama-3-8B) shrunk to 2 layers of width 64, with a tokenizer carrying the family's real special tokens at their
real ids, the real vocabulary size and the chat template that model ships, so that BOS, end-of-turn, system-role
and stop-token handling run as on the real models.

Facts (checked 2026-12-01 against the model repositories' tokenizer_config / added_tokens / generation_config
files, Meta's reference tokenizer (github meta-llama/llama3 llama/tokenizer.py) and the SimPO repository's
chat_templates.json; templates in templates/, copied verbatim):
- Nous-Hermes-2-Mistral-7B-DPO: ChatML with a leading BOS (repo commit ebec0a6 "Add BOS to chat template");
  <|im_end|> 32000 and <|im_start|> 32001 on a 32,002 vocabulary; eos <|im_end|>.
- OpenHermes-2.5-Mistral-7B: the same tokens, ChatML without BOS; eos <|im_end|>, pad </s>.
- Mistral-7B-Instruct-v0.2: <unk> 0, <s> 1, </s> 2 on 32,000; the current template (an optional system message
  folded into the first [INST]); rope theta 1e6 and no sliding window. princeton-nlp's Mistral-7B-Instruct-DPO /
  -SimPO were trained with the original Dec-2023 template, which raises on a system message.
- zephyr-7b-sft-full and princeton-nlp's Mistral-7B-Base-SFT-DPO / -SimPO: the zephyr template, no BOS, eos </s>.
- Llama-3-8B-Instruct and the princeton-nlp Llama-3 models: 128,000 BPE tokens then 256 specials
  (<|begin_of_text|> 128000, <|end_of_text|> 128001, <|start_header_id|> 128006, <|end_header_id|> 128007,
  <|eot_id|> 128009); the instruct model stops at 128001 or 128009, the Base-SFT configs at 128001 only.

The tokenizers learn ~1,000 merges from a small English corpus and fill the rest of the real vocabulary with
pseudo-words that encoding never produces but decoding shows, so random samples read as (nonsense) words.
Stops: a random model almost never samples its stop token out of 32k-128k, so each model gets one hidden
direction that makes the stop token near-certain after a fixed 1/30 of the vocabulary ("closing" tokens), in
sampling and in greedy decoding alike: responses end after ~30 tokens, not at the limit.
A fine-tuned descendant (DPO, SimPO) is its parent's weights plus small noise, so pairs of relatives score close.
"""
from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

TEMPLATES = Path(__file__).with_name("templates")
WIDTH = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=1)  # the real 32 heads : 8 KV heads ratio, shrunk
CLOSING_EVERY = 30      # 1 token in 30 is a "closing" token, after which the stop token is near-certain
CHILD_NOISE = 0.3       # a descendant's weights: parent + CHILD_NOISE * (the init's std) * N(0, 1)
VERSION = 2  # of the stand-ins: their folder, so that outputs built from older ones are never reused

_CORPUS = """Sure! Here is a short answer to your question. The capital of France is Paris, and it is known for
the Eiffel Tower. To solve 12 * 7, multiply the numbers: 12 * 7 = 84. First, list the steps; second, check each
step; third, write the final answer. I'm sorry, but I can't help with that request. Is there something else I
can do for you? def add(a, b):\n    return a + b\n\nprint(add(2, 3)) Water boils at 100 degrees Celsius at sea
level. A good essay has a clear thesis, supporting evidence and a conclusion. Photosynthesis turns light, water
and carbon dioxide into sugar and oxygen. Let x be the number of apples; then 3x + 5 = 20, so x = 5. The quick
brown fox jumps over the lazy dog. Write a haiku about the sea: waves fold into foam, the tide keeps its old
promise, gulls argue with wind. In Python, a list comprehension builds a list: [n * n for n in range(10)].
Thank you for asking! Here are three ideas: a walk in the park, a new book, and a call to an old friend."""


@dataclass(frozen=True)
class Family:
    """A tokenizer family: its special tokens (string -> id), vocabulary size, and BOS/EOS/PAD/UNK strings."""
    kind: str                    # "sentencepiece" (Mistral: metaspace, byte fallback) or "bytelevel" (Llama-3)
    vocab_size: int
    specials: dict = field(default_factory=dict)
    bos: str = "<s>"
    eos: str = "</s>"
    pad: str | None = None
    unk: str | None = None


MISTRAL = Family("sentencepiece", 32000, {"<unk>": 0, "<s>": 1, "</s>": 2}, unk="<unk>")
CHATML = Family("sentencepiece", 32002, {"<unk>": 0, "<s>": 1, "</s>": 2, "<|im_end|>": 32000,
                                         "<|im_start|>": 32001}, eos="<|im_end|>", pad="</s>", unk="<unk>")
_LLAMA3_SPECIALS = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
                    "<|end_header_id|>": 128007, "<|eot_id|>": 128009}
_reserved = iter(range(256))
LLAMA3 = Family("bytelevel", 128256, {**_LLAMA3_SPECIALS, **{
    f"<|reserved_special_token_{next(_reserved)}|>": i for i in range(128000, 128256)
    if i not in _LLAMA3_SPECIALS.values()}}, bos="<|begin_of_text|>", eos="<|eot_id|>")

MISTRAL_V01 = dict(max_position_embeddings=32768, rope_theta=10000.0, sliding_window=4096)
MISTRAL_V02 = dict(max_position_embeddings=32768, rope_theta=1000000.0, sliding_window=None)
LLAMA3_8B = dict(max_position_embeddings=8192, rope_theta=500000.0)


@dataclass(frozen=True)
class Stand_in:  # noqa: N801 (reads as "stand-in")
    """One hub model's stand-in: family, architecture, template file, stop ids, and its parent (or None)."""
    arch: str                    # "mistral" | "llama"
    family: Family
    config: dict
    template: str
    stops: tuple                 # generation_config eos_token_id(s); the first is the one the template ends with
    parent: str | None = None


def _llama(parent=None, stops=(128009, 128001)):
    return Stand_in("llama", LLAMA3, LLAMA3_8B, "meta-llama-3-8b-instruct.jinja", stops, parent)


STAND_INS = {
    "teknium/OpenHermes-2.5-Mistral-7B": Stand_in("mistral", CHATML, MISTRAL_V01, "openhermes-2.5-mistral-7b.jinja",
                                                  (32000,)),
    "NousResearch/Nous-Hermes-2-Mistral-7B-DPO": Stand_in("mistral", CHATML, MISTRAL_V01,
                                                          "nous-hermes-2-mistral-7b-dpo.jinja", (32000,),
                                                          "teknium/OpenHermes-2.5-Mistral-7B"),
    "mistralai/Mistral-7B-Instruct-v0.2": Stand_in("mistral", MISTRAL, MISTRAL_V02, "mistral-7b-instruct-v0.2.jinja",
                                                   (2,)),
    "princeton-nlp/Mistral-7B-Instruct-DPO": Stand_in("mistral", MISTRAL, MISTRAL_V02,
                                                      "mistral-7b-instruct-v0.2.original-dec2023.jinja", (2,),
                                                      "mistralai/Mistral-7B-Instruct-v0.2"),
    "princeton-nlp/Mistral-7B-Instruct-SimPO": Stand_in("mistral", MISTRAL, MISTRAL_V02,
                                                        "mistral-7b-instruct-v0.2.original-dec2023.jinja", (2,),
                                                        "mistralai/Mistral-7B-Instruct-v0.2"),
    "alignment-handbook/zephyr-7b-sft-full": Stand_in("mistral", MISTRAL, MISTRAL_V01, "zephyr-7b-sft-full.jinja",
                                                      (2,)),
    "princeton-nlp/Mistral-7B-Base-SFT-DPO": Stand_in("mistral", MISTRAL, MISTRAL_V01, "zephyr-7b-sft-full.jinja",
                                                      (2,), "alignment-handbook/zephyr-7b-sft-full"),
    "princeton-nlp/Mistral-7B-Base-SFT-SimPO": Stand_in("mistral", MISTRAL, MISTRAL_V01, "zephyr-7b-sft-full.jinja",
                                                        (2,), "alignment-handbook/zephyr-7b-sft-full"),
    "meta-llama/Meta-Llama-3-8B-Instruct": _llama(),
    "princeton-nlp/Llama-3-Instruct-8B-DPO": _llama("meta-llama/Meta-Llama-3-8B-Instruct"),
    "princeton-nlp/Llama-3-Instruct-8B-SimPO": _llama("meta-llama/Meta-Llama-3-8B-Instruct"),
    # the Base-SFT configs stop at <|end_of_text|> only, although the template ends turns with <|eot_id|>
    "princeton-nlp/Llama-3-Base-8B-SFT": _llama(stops=(128009,)),
    "princeton-nlp/Llama-3-Base-8B-SFT-DPO": _llama("princeton-nlp/Llama-3-Base-8B-SFT", stops=(128009,)),
    "princeton-nlp/Llama-3-Base-8B-SFT-SimPO": _llama("princeton-nlp/Llama-3-Base-8B-SFT", stops=(128009,)),
}
# what the stand-in emits to end a turn vs. what its generation_config lists (they differ for Base-SFT)
CONFIG_EOS = {name: ((128001,) if "Base-8B-SFT" in name else s.stops) for name, s in STAND_INS.items()}


# Llama-3's tokenizer.json pre-tokenizer: its split pattern, then byte-level without a regex of its own
LLAMA3_SPLIT = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "isolated"),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def _pseudo_words():
    """Unique lowercase pseudo-words (consonant-vowel syllables), shortest first."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    for n in itertools.count(1):
        for parts in itertools.product(syllables, repeat=n):
            yield "".join(parts)


def build_tokenizer(family: Family, template: str) -> PreTrainedTokenizerFast:
    """A fast tokenizer with the family's special tokens at their ids, its vocabulary size and `template`."""
    specials = family.specials
    if family.kind == "sentencepiece":  # Mistral / Llama-2 style: "▁" for spaces, bytes as <0x..> fallback
        head = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        trainer = trainers.BpeTrainer(vocab_size=1200, show_progress=False,
                                      initial_alphabet=list("▁" + "".join(map(chr, range(33, 127)))))
        # transformers' LlamaTokenizerFast (legacy=False): "▁" before the first piece of text only
        metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        learner = Tokenizer(models.BPE())
        learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        space = "▁"
    else:  # Llama-3 style: byte-level BPE after Llama-3's split pattern
        head = []
        trainer = trainers.BpeTrainer(vocab_size=1500, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        learner = Tokenizer(models.BPE())
        learner.pre_tokenizer = LLAMA3_SPLIT
        space = "Ġ"
    learner.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    learned = sorted(learner.get_vocab().items(), key=lambda kv: kv[1])
    n_base = min([i for i in specials.values() if i >= len(head)] or [family.vocab_size])
    merges = json.loads(learner.to_str())["model"]["merges"]
    vocab = {t: i for i, t in enumerate(head)}
    for token, _ in learned:
        vocab.setdefault(token, len(vocab))
    words = _pseudo_words()
    while len(vocab) < n_base:
        word = next(words)
        for token in (space + word, word):
            if len(vocab) < n_base:
                vocab.setdefault(token, len(vocab))
    if family.kind == "sentencepiece":
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                        for m in merges], unk_token="<unk>", byte_fallback=True,
                                   fuse_unk=True))
        tok.pre_tokenizer = metaspace
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", 1)])
    else:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                        for m in merges], ignore_merges=True))
        tok.pre_tokenizer = LLAMA3_SPLIT
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>", 128000)])
    extra = sorted((i, s) for s, i in specials.items() if i >= n_base or family.kind == "bytelevel")
    for i, s in extra:
        if s not in tok.get_vocab():
            assert tok.get_vocab_size() == i, (s, i, tok.get_vocab_size())
            tok.add_special_tokens([AddedToken(s, special=True, normalized=False)])
    if family.kind == "sentencepiece":  # <unk> <s> </s> sit in the base vocabulary; mark them special
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in ("<unk>", "<s>", "</s>")])
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=family.bos, eos_token=family.eos,
                                  pad_token=family.pad, unk_token=family.unk)
    out.chat_template = (TEMPLATES / template).read_text(encoding="utf-8")
    for s, i in specials.items():
        assert out.convert_tokens_to_ids(s) == i, (s, i)
    assert len(out) == family.vocab_size, (len(out), family.vocab_size)
    return out


def closing_tokens(family: Family) -> torch.Tensor:
    """The ids after which the stand-in almost surely stops: 1 in CLOSING_EVERY ordinary tokens."""
    ids = torch.arange(family.vocab_size)
    special = torch.tensor(sorted(family.specials.values()))
    return ids[(ids % CLOSING_EVERY == 7) & ~torch.isin(ids, special)]


@torch.no_grad()
def _install_stop(model, family: Family, stops: tuple, seed: int) -> dict:
    """Hidden dimension 0 carries "the last token closes a sentence": 1.0 in the closing tokens' embeddings, 0
    elsewhere; only the stop tokens read it from the head (the first stop strongly, a second one less). Returns
    the stop probability measured after closing and after ordinary tokens on random inputs."""
    closing = closing_tokens(family)
    embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    embed[:, 0] = 0.0
    embed[closing, 0] = 1.0
    head[:, 0] = 0.0
    gen = torch.Generator().manual_seed(seed)
    ordinary = torch.tensor([i for i in range(1000, 5000) if i % CLOSING_EVERY != 7])
    x = ordinary[torch.randint(len(ordinary), (16, 24), generator=gen)]
    x[:, -1] = closing[torch.randint(len(closing), (16,), generator=gen)]
    h = model.model(input_ids=x).last_hidden_state  # after the final norm
    strength = 16.0 / h[:, -1, 0].float().mean().item()  # stop logit ~16 after a closing token (vocab e^11.8)
    for k, stop in enumerate(stops):
        head[stop, 0] = strength - 2.0 * k * strength / 16.0
    logits = model(input_ids=x).logits.float().log_softmax(-1)
    stop_p = logits[..., list(stops)].exp().sum(-1)
    return {"after closing": stop_p[:, -1].mean().item(), "after ordinary": stop_p[:, :-1].mean().item()}


def build_model(name: str, folder: Path, *, seed: int, parent_folder: Path | None = None,
                tokenizer: PreTrainedTokenizerFast | None = None) -> dict:
    """Save `name`'s stand-in (bf16 safetensors, tokenizer, generation_config) into `folder`; returns facts."""
    spec = STAND_INS[name]
    fam = spec.family
    tok = tokenizer or build_tokenizer(fam, spec.template)
    tok.chat_template = (TEMPLATES / spec.template).read_text(encoding="utf-8")
    config_cls, model_cls = {"mistral": (MistralConfig, MistralForCausalLM),
                             "llama": (LlamaConfig, LlamaForCausalLM)}[spec.arch]
    eos = list(CONFIG_EOS[name])
    cfg = config_cls(vocab_size=fam.vocab_size, tie_word_embeddings=False, bos_token_id=fam.specials[fam.bos],
                     eos_token_id=eos[0] if len(eos) == 1 else eos,
                     pad_token_id=fam.specials.get(fam.pad) if fam.pad else None, **WIDTH, **spec.config)
    torch.manual_seed(seed)
    model = model_cls(cfg).eval()
    if parent_folder is not None:  # a descendant: the parent's weights plus a little noise
        parent = model_cls.from_pretrained(parent_folder, dtype=torch.float32)
        with torch.no_grad():
            for w, p in zip(model.state_dict().values(), parent.state_dict().values()):
                w.copy_(p + CHILD_NOISE * cfg.initializer_range * torch.randn_like(p) * (p.dim() > 1))
    stop = _install_stop(model, fam, spec.stops, seed)
    model.generation_config.eos_token_id = eos[0] if len(eos) == 1 else eos
    model.generation_config.bos_token_id = cfg.bos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.to(torch.bfloat16).save_pretrained(folder)
    tok.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    return {"name": name, "parameters": params, "stop probability": stop, "parent": spec.parent}


def folder_name(hub_id: str) -> str:
    return hub_id.replace("/", "--")


def build_models(root: Path, names=None, *, seed: int = 0, progress=print) -> dict[str, Path]:
    """Every stand-in (or those in `names`, with their parents) under root/<org>--<name>, parents first, skipping
    those already built for this VERSION and seed; one tokenizer per family. Returns {hub id: folder}."""
    wanted = list(STAND_INS) if names is None else list(names)
    for name in list(wanted):
        parent = STAND_INS[name].parent
        if parent and parent not in wanted:
            wanted.append(parent)
    order = sorted(wanted, key=lambda n: (STAND_INS[n].parent is not None, list(STAND_INS).index(n)))
    tokenizers, out = {}, {}
    transformers_logging.disable_progress_bar()  # one line per model instead
    for k, name in enumerate(order):
        folder = root / folder_name(name)
        stamp = folder / "dryrun.json"
        out[name] = folder
        if stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")).get("version") == [VERSION, seed]:
            continue
        spec = STAND_INS[name]
        key = id(spec.family)
        if key not in tokenizers:
            tokenizers[key] = build_tokenizer(spec.family, spec.template)
        tmp = folder.with_name(folder.name + ".tmp")
        facts = build_model(name, tmp, seed=seed * 1000 + list(STAND_INS).index(name),
                            parent_folder=out[spec.parent] if spec.parent else None, tokenizer=tokenizers[key])
        (tmp / "dryrun.json").write_text(json.dumps({"version": [VERSION, seed], **facts}, indent=1),
                                         encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        progress(f"[dryrun] model {k + 1}/{len(order)}: {name} -> {folder} ({facts['parameters']:,} parameters)")
    return out
