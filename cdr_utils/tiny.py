"""Tiny random causal LMs with a real byte-level BPE tokenizer and chat template, built in code (no download).

Used by the tests and the `smoke` profile. Deterministic for a seed: the tokenizer is trained on a fixed
in-code corpus (the same for every seed), the weights come from `torch.manual_seed(seed)`.

- "tiny-random-llama": Llama architecture, ChatML template with a system role (like SmolLM2), special
  <|im_start|>/<|im_end|> tokens; "\\n\\n" is a single token, so a response starting with "\\n" merges with
  the "assistant\\n" header.
- "tiny-random-gpt2": GPT-2 architecture, the plain "User:/Assistant: " template whose trailing space merges
  with the response's first word: the merged boundary on every example.

Weights are initialised with a large std (0.3) so that log-probs differ strongly from token to token and an
off-by-one span or a misplaced position shows up in the tests as a large error, not as round-off.
"""
from __future__ import annotations

import functools

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .chat import PLAIN_CHAT_TEMPLATE

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A density ratio compares two language models on the same response.",
    "Hello! How can I help you today?\n\nI can answer questions, write code and explain ideas.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "To compute 12 * 7, multiply: 12 * 7 = 84. The answer is 84.",
    "I'm sorry, but I can't help with that request.\n\nIs there something else I can do?",
    "User: What is the capital of France?\n\nAssistant: The capital of France is Paris.",
    "User: Say hi.\n\nAssistant: Hello! Sure, hello there.\n\nAssistant: Sure, here it is.",
    "Système: réponds en français, s'il te plaît. Ünïcödé — naïve café 東京 🙂",
    "First, list the steps. Second, check each step. Third, write the final answer.\n\n",
    "Sure, here is a short poem about the sea:\nWaves roll in, waves roll out.",
]


@functools.lru_cache(maxsize=2)
def _backend_tokenizer(kind: str):
    specials = ["<|endoftext|>"] if kind == "gpt2" else ["<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(kind: str):
    """A fast tokenizer with a chat template; `kind` is "llama" (ChatML) or "gpt2" (plain template)."""
    backend = Tokenizer.from_str(_backend_tokenizer(kind))
    if kind == "gpt2":
        tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                      pad_token="<|endoftext|>")
        tok.chat_template = PLAIN_CHAT_TEMPLATE
    else:
        tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="<|im_end|>",
                                      pad_token="</s>")
        tok.chat_template = CHATML_TEMPLATE
    tok.name_or_path = f"tiny-random-{kind}"
    return tok


def tiny_model(kind: str, seed: int = 0, *, max_positions: int = 512):
    """(model, tokenizer) for kind "llama" or "gpt2": ~70k random parameters, fp32, eval mode."""
    tok = tiny_tokenizer(kind)
    if kind == "gpt2":
        cfg = GPT2Config(vocab_size=len(tok), n_embd=48, n_layer=2, n_head=4, n_positions=max_positions,
                         initializer_range=0.3, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        cls = GPT2LMHeadModel
    elif kind == "llama":
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                          initializer_range=0.3, tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        cls = LlamaForCausalLM
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}; expected 'llama' or 'gpt2'")
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    model.name_or_path = f"tiny-random-{kind}"
    return model, tok
