"""Preference tuning through TRL 1.16: SimPO, DPO and reward-augmented DPO, thin wrappers over the trainers.

Losses, per pair (x, y_w, y_l), pi = the policy being trained, |y| = response length in tokens:

    SimPO (arXiv 2405.14734, Eq. 6):  -log sigma( beta/|y_w| log pi(y_w|x) - beta/|y_l| log pi(y_l|x) - gamma )
    DPO   (arXiv 2305.18290, Eq. 7):  -log sigma( beta [log pi(y_w|x)/pi_ref(y_w|x) - log pi(y_l|x)/pi_ref(y_l|x)] )
    reward-augmented DPO (arXiv 2410.08067): DPO on pairs.reward_augment(pairs): two goal-conditioned rows
        per pair (conditioned on r_w: y_w beats y_l; conditioned on r_l: y_l beats y_w).

SimPO runs on TRL's CPOTrainer (`trl.experimental.cpo`) with loss_type="simpo" and cpo_alpha=0.0: CPO adds
cpo_alpha x NLL(y_w), so 0 leaves pure SimPO. TRL's `simpo_gamma` is the absolute margin gamma (it divides by
beta internally). DPO gets an explicit frozen copy of the starting policy as reference (with ref_model=None
TRL reloads the reference by the model's name, which fails for in-memory models); under LoRA the reference
is the policy with its adapters disabled, as TRL does.

Which tokens are trained on: DPO reads the conversational columns and trains on the template's text after
the prompt (response, end-of-turn marker, the template's trailing newline). For SimPO we hand the CPO trainer
text instead, prompt = template(x, add_generation_prompt=True) and completion = response + end-of-turn
marker: given conversations, CPOTrainer would append a second EOS after the template's trailing newline.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback
from trl import DPOConfig, DPOTrainer
from trl.experimental.cpo import CPOConfig, CPOTrainer

from .chat import ChatEncoder, RecordError, has_system_role, render, validate_prompt
from .pairs import reward_augment
from .progress import progress
from .records import atomic_dir

METHODS = ("simpo", "dpo", "ra_dpo")


@dataclass(frozen=True)
class PreferenceRecipe:
    """One preference-tuning run through TRL. loss "simpo": SimPO (arXiv 2405.14734, Eq. 6) via TRL's
    CPOTrainer with cpo_alpha=0 (no NLL term); `gamma` is the absolute target margin (gamma/beta = 0.55 in the
    paper). loss "dpo": DPO (arXiv 2305.18290) against a frozen copy of the starting policy. batch_size is the
    effective batch (per device x accumulation x processes)."""
    loss: str = "simpo"
    beta: float = 2.5
    gamma: float = 1.375
    learning_rate: float = 1e-6
    epochs: float = 1.0
    max_steps: int = -1               # > 0: stop after this many optimizer steps (overrides epochs)
    batch_size: int = 128
    per_device_batch_size: int = 2
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    max_length: int = 2048            # prompt + response tokens
    lora_rank: int = 0                # 0: full fine-tuning; > 0: LoRA adapters (peft) on all linear layers
    lora_alpha: int = 32


# Changes when the training procedure changes what a checkpoint holds (2: low-precision policies train on fp32
# master weights), so that checkpoints made before are not reused (studies/checkpoints.py keys them by it).
TRAINING_VERSION = 2


@dataclass
class TuningResult:
    """model: the trained policy (LoRA adapters merged), eval mode; log_history: the trainer's per-step logs
    (loss, rewards/margins, rewards/accuracies, learning_rate, ...); output_dir: the saved checkpoint."""
    model: object
    tokenizer: object
    log_history: list[dict]
    output_dir: Path
    n_rows: int  # training rows the trainer saw per epoch
    # {"training", "saved"}: share of parameter tensors with an entry the training changed, in the training precision
    # and as saved (None: not measured, under DeepSpeed); they differ where updates are below the saved dtype's
    # resolution (bf16: 8 bits)
    changed: dict | None = None


def warmup_only(recipe, steps: int) -> bool:
    """Whether every one of `steps` optimizer steps ran at learning rate 0. transformers' warm-up schedule gives
    step k the rate lr x k / ceil(warmup_ratio x steps) during warm-up, so step 0 runs at 0 whenever there is a
    warm-up: a run of one step (fewer rows than one batch of the recipe) leaves the policy as it was."""
    return steps == 0 or (steps == 1 and math.ceil(recipe.warmup_ratio * steps) >= 1)


def _deepspeed() -> bool:
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def _tensor_sums(model) -> list[float]:
    """One float64 sum per parameter tensor: what tells whether training changed it, without a copy of the model."""
    return [float(torch.sum(p.detach(), dtype=torch.float64)) for p in model.parameters()]


def _fp32_master(model):
    """(model to train, dtype to save in). Weights in bf16 / fp16 would take the optimizer's steps in their own
    precision, where an update of lr 1e-6 rounds to nothing (bf16 resolves ~1 part in 256): train them in fp32
    (on a GPU under bf16 autocast), as DeepSpeed does with its fp32 master weights, then save in the weights'
    dtype. Under DeepSpeed the model is left to it."""
    dtype = next(model.parameters()).dtype
    if dtype in (torch.bfloat16, torch.float16) and not _deepspeed():
        return _cast_parameters(model, torch.float32), dtype
    return model, dtype


def _cast_parameters(model, dtype):
    """The parameters in `dtype`, buffers as they are (model.to(dtype) would also round fp32 buffers such as the
    rotary frequencies, and the policy would no longer compute what it computed before training)."""
    for p in model.parameters():
        p.data = p.data.to(dtype)
    return model


def _assistant_text(turns, record, field: str) -> str:
    if not (isinstance(turns, list) and len(turns) == 1 and isinstance(turns[0], dict)
            and turns[0].get("role") == "assistant" and isinstance(turns[0].get("content"), str)):
        raise RecordError(record, field, f"expected [one assistant message], got {turns!r:.80}")
    return turns[0]["content"]


def check_pairs(dataset) -> None:
    """Raise RecordError unless every row is a conversational pair (prompt messages, [assistant] x 2)."""
    for col in ("prompt", "chosen", "rejected"):
        if col not in dataset.column_names:
            raise RecordError(0, col, f"missing column; the dataset has {dataset.column_names}")
    for i, row in enumerate(dataset):
        record = row.get("prompt_id", i)
        validate_prompt(row["prompt"], record)
        _assistant_text(row["chosen"], record, "chosen")
        _assistant_text(row["rejected"], record, "rejected")


def to_text_pairs(dataset, tokenizer, chat_template: str | None = None):
    """Conversational pairs -> text pairs for CPOTrainer: prompt = the rendered prompt with the generation
    header, chosen / rejected = the response as the template renders it + the end-of-turn marker (the span
    chat.ChatEncoder scores, so SimPO's |y| is the scorer's n_tokens)."""
    enc = ChatEncoder(tokenizer, chat_template=chat_template)

    def completion(prompt, p_text, response, record, field):
        full = render(tokenizer, list(prompt) + [{"role": "assistant", "content": response}],
                      add_generation_prompt=False, chat_template=enc.chat_template)
        if not full.startswith(p_text) or not full.endswith(enc.marker + enc.trailing):
            raise RecordError(record, field, "the chat template does not render prompt + response as the prompt "
                              "followed by the response and its end-of-turn text")
        return full[len(p_text):len(full) - len(enc.trailing)]

    def convert(row, i):
        p_text = enc.prompt_text(row["prompt"])
        record = row.get("prompt_id", i)
        return {"prompt": p_text,
                "chosen": completion(row["prompt"], p_text, row["chosen"][0]["content"], record, "chosen"),
                "rejected": completion(row["prompt"], p_text, row["rejected"][0]["content"], record, "rejected")}

    return dataset.map(convert, with_indices=True, remove_columns=dataset.column_names, desc="rendering pairs")


@contextlib.contextmanager
def _trl_deprecations_silenced():
    """TRL 1.16 still calls transformers' `*gradient_checkpointing*` methods, deprecated in transformers 5 (renamed
    `*activation_checkpointing*`); the FutureWarnings name TRL's internals, not anything a user can change."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield


class StepProgress(TrainerCallback):
    """The project's progress bar (progress.py) over optimizer steps, in place of the trainer's own."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress(total=state.max_steps, desc=self.desc, unit="step")

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(1)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


def _common_args(recipe, output_dir: Path, seed: int) -> dict:
    """TrainingArguments shared by both trainers. The effective batch is recipe.batch_size: accumulation =
    batch / (per-device batch x processes), so a multi-GPU launch keeps the paper's 128."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_device = min(recipe.per_device_batch_size, recipe.batch_size)
    cuda = torch.cuda.is_available()
    return dict(output_dir=str(output_dir), per_device_train_batch_size=per_device,
                gradient_accumulation_steps=max(1, recipe.batch_size // (per_device * world)),
                learning_rate=recipe.learning_rate, num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
                lr_scheduler_type=recipe.lr_scheduler, warmup_steps=recipe.warmup_ratio,  # float < 1: a ratio
                max_length=recipe.max_length, beta=recipe.beta, logging_steps=1, save_strategy="no",
                report_to=[], seed=seed, data_seed=seed, disable_tqdm=True,  # our bar: StepProgress
                dataloader_pin_memory=cuda,
                bf16=cuda and torch.cuda.is_bf16_supported(),  # TRL defaults to bf16; CPU trains in fp32
                activation_checkpointing=cuda)  # saves GPU memory at paper scale; only costs time on CPU


def simpo_config(recipe, output_dir, seed: int = 0):
    """CPOConfig for pure SimPO: loss_type "simpo", cpo_alpha 0 (no NLL term), simpo_gamma = recipe.gamma,
    the absolute margin on the scale of the reward beta/|y| log pi(y|x) (TRL divides it by beta itself)."""
    if recipe.loss != "simpo":
        raise ValueError(f"a SimPO config needs a recipe with loss='simpo', got {recipe.loss!r}")
    return CPOConfig(**_common_args(recipe, Path(output_dir), seed), loss_type="simpo", cpo_alpha=0.0,
                     simpo_gamma=recipe.gamma, remove_unused_columns=False)


def dpo_config(recipe, output_dir, seed: int = 0):
    """DPOConfig for the sigmoid DPO loss with recipe.beta; reference log-probs computed on the fly."""
    if recipe.loss != "dpo":
        raise ValueError(f"a DPO config needs a recipe with loss='dpo', got {recipe.loss!r}")
    return DPOConfig(**_common_args(recipe, Path(output_dir), seed), loss_type=["sigmoid"],
                     precompute_ref_log_probs=False)


def _peft_config(recipe):
    if recipe.lora_rank <= 0:
        return None
    from peft import LoraConfig  # optional: only LoRA recipes need peft

    return LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _finish(trainer, tokenizer, recipe, output_dir: Path, n_rows: int, extra: dict, dtype, before) -> TuningResult:
    """Save model + tokenizer + logs into output_dir atomically (tmp dir, rename), the weights in `dtype` (the
    policy's before training). LoRA adapters are merged first; full fine-tuning saves through the trainer, which
    gathers ZeRO-3-sharded weights. `before`: _tensor_sums of the policy before training (None: not measured)."""
    main = trainer.is_world_process_zero()
    model = trainer.model.merge_and_unload() if recipe.lora_rank > 0 else trainer.model
    changed = None
    if before is not None:
        trained = _tensor_sums(model)
        model = _cast_parameters(model, dtype)
        saved = _tensor_sums(model)
        changed = {"training": float(np.mean([a != b for a, b in zip(before, trained)])),
                   "saved": float(np.mean([a != b for a, b in zip(before, saved)]))}
    with atomic_dir(output_dir, owner=main) as tmp:  # every process saves through tmp; the first swaps it in
        if recipe.lora_rank > 0:
            if main:
                model.save_pretrained(tmp)
        else:
            trainer.model = model
            trainer.save_model(str(tmp))  # model + processing_class; collective under DeepSpeed
        history = list(trainer.state.log_history)
        if main:
            tokenizer.save_pretrained(tmp)  # the policy's own tokenizer, not the trainer's padded copy
            (tmp / "log_history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
            meta = {"recipe": dataclasses.asdict(recipe), "n_rows": n_rows, "changed": changed, **extra}
            (tmp / "cdr_tuning.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    return TuningResult(model.eval(), tokenizer, history, output_dir, n_rows, changed)


def _padded(tokenizer):
    """The tokenizer the trainer pads with: a copy with pad = EOS when it has no pad token (Llama-3's has none;
    TRL refuses to pad without one, and alignment-handbook sets the same). Padded positions are masked."""
    if tokenizer.pad_token is not None:
        return tokenizer
    padded = copy.deepcopy(tokenizer)
    padded.pad_token = padded.eos_token
    return padded


def _scratch(output_dir) -> tuple[Path, Path]:
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    return output_dir, output_dir.with_name(output_dir.name + ".run")  # trainer's own files (not kept)


def train_simpo(model, tokenizer, pairs, recipe, output_dir, *, seed: int = 0,
                extra: dict | None = None) -> TuningResult:
    """SimPO on conversational pairs (columns prompt, chosen, rejected; extra columns ignored).
    recipe: PreferenceRecipe with loss "simpo" (beta, absolute gamma)."""
    if recipe.loss != "simpo":
        raise ValueError(f"train_simpo needs a recipe with loss='simpo', got {recipe.loss!r}")
    check_pairs(pairs)
    output_dir, scratch = _scratch(output_dir)
    args = simpo_config(recipe, scratch, seed)
    text_pairs = to_text_pairs(pairs, tokenizer)
    before = None if _deepspeed() else _tensor_sums(model)
    model, dtype = _fp32_master(model)
    model.train()
    with _trl_deprecations_silenced():
        trainer = CPOTrainer(model=model, args=args, train_dataset=text_pairs, processing_class=_padded(tokenizer),
                             peft_config=_peft_config(recipe), callbacks=[StepProgress("SimPO training")])
        trainer.remove_callback(PrinterCallback)  # the per-step logs stay in log_history, not on stdout
        trainer.train()
    shutil.rmtree(scratch, ignore_errors=True)
    return _finish(trainer, tokenizer, recipe, output_dir, len(text_pairs), {"method": "simpo", **(extra or {})},
                   dtype, before)


def train_dpo(model, tokenizer, pairs, recipe, output_dir, *, ref_model=None, seed: int = 0,
              method: str = "dpo", extra: dict | None = None) -> TuningResult:
    """DPO on conversational pairs. ref_model: the frozen reference (default: a copy of `model` as it is
    now; under LoRA, `model` with adapters disabled). recipe: PreferenceRecipe with loss "dpo"."""
    if recipe.loss != "dpo":
        raise ValueError(f"train_dpo needs a recipe with loss='dpo', got {recipe.loss!r}")
    check_pairs(pairs)
    output_dir, scratch = _scratch(output_dir)
    pairs = pairs.select_columns(["prompt", "chosen", "rejected"])
    peft_config = _peft_config(recipe)
    if ref_model is None and peft_config is None:
        ref_model = copy.deepcopy(model)
    if ref_model is not None:
        ref_model = ref_model.eval().requires_grad_(False)
    args = dpo_config(recipe, scratch, seed)
    before = None if _deepspeed() else _tensor_sums(model)
    model, dtype = _fp32_master(model)
    model.train()
    with _trl_deprecations_silenced():
        trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=pairs,
                             processing_class=_padded(tokenizer), peft_config=peft_config,
                             callbacks=[StepProgress(f"{'reward-augmented ' if method == 'ra_dpo' else ''}DPO training")])
        trainer.remove_callback(PrinterCallback)  # the per-step logs stay in log_history, not on stdout
        trainer.train()
    shutil.rmtree(scratch, ignore_errors=True)
    return _finish(trainer, tokenizer, recipe, output_dir, len(pairs), {**(extra or {}), "method": method}, dtype,
                   before)


def train_reward_augmented_dpo(model, tokenizer, pairs, recipe, output_dir, *, levels: int = 10, edges=None,
                               ref_model=None, seed: int = 0, extra: dict | None = None) -> TuningResult:
    """DPO on pairs.reward_augment(pairs): each pair becomes two rows conditioned on a 1..levels rating (a
    system message, or prepended once to the user turn when the template has no system role); a pair whose
    two scores fall in the same rating bin keeps only its first row. One epoch therefore takes up to twice
    the optimizer steps of plain DPO on the same pairs (notebook 07 compares at equal epochs)."""
    augmented, info = reward_augment(pairs, levels=levels, edges=edges, system_role=has_system_role(tokenizer))
    return train_dpo(model, tokenizer, augmented, recipe, output_dir, ref_model=ref_model, seed=seed,
                     method="ra_dpo", extra={**(extra or {}), "augment": info})
