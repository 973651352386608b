"""Judge prompts: the project's own wording (pairwise and single-answer), or official ones from a user's copy.

The project's prompts ask for the same output formats as the official harnesses, so one parser serves both:
a pairwise verdict "[[A>>B]]" / "[[A>B]]" / "[[A=B]]" / "[[B>A]]" / "[[B>>A]]" (Arena-Hard's five labels;
AlpacaEval collapses them to a preference), and a single-answer rating "[[n]]" on 1-10 (MT-Bench).
Official prompts (FastChat's `judge_prompts.jsonl`, Arena-Hard's judge config) are not redistributed here:
`JudgePrompts.from_file(path)` loads them from a copy the user has, by record name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...records import read_jsonl

SYSTEM = ("You are a careful, impartial judge of answers written by AI assistants. Judge helpfulness, "
          "correctness, relevance, depth and clarity; do not let the length of an answer or the order in which "
          "answers are shown influence you.")

PAIRWISE = """Compare two assistants' answers to the user's question below.{reference_block}

[Question]
{question}

[The Start of Assistant A's Answer]
{answer_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{answer_b}
[The End of Assistant B's Answer]

Explain your comparison in a few sentences, then give your verdict on the last line as exactly one of:
[[A>>B]] (A is much better), [[A>B]] (A is better), [[A=B]] (a tie), [[B>A]] (B is better),
[[B>>A]] (B is much better)."""

SINGLE = """Rate the assistant's answer to the user's question below on a scale of 1 to 10.{reference_block}

[Question]
{question}

[The Start of Assistant's Answer]
{answer}
[The End of Assistant's Answer]

Explain your rating in a few sentences, then write the rating on the last line in the form "[[rating]]",
for example: "Rating: [[5]]"."""

SINGLE_MULTI_TURN = """Below is a two-turn conversation between a user and an assistant. Rate the assistant's \
SECOND answer on a scale of 1 to 10, taking the first turn into account.{reference_block}

[User, turn 1]
{question_1}

[Assistant, turn 1]
{answer_1}

[User, turn 2]
{question_2}

[Assistant, turn 2]
{answer_2}

Explain your rating in a few sentences, then write the rating on the last line in the form "[[rating]]",
for example: "Rating: [[5]]"."""

REFERENCE_BLOCK = "\nA reference answer is given; use it to check correctness.\n\n[Reference Answer]\n{reference}"


@dataclass(frozen=True)
class JudgePrompts:
    """The system prompt and three templates (str.format fields named as above)."""
    system: str = SYSTEM
    pairwise: str = PAIRWISE
    single: str = SINGLE
    single_multi_turn: str = SINGLE_MULTI_TURN
    source: str = "project"

    @classmethod
    def from_file(cls, path: str | Path, *, pairwise: str = "pair-v2", single: str = "single-v1",
                  single_multi_turn: str = "single-v1-multi-turn") -> "JudgePrompts":
        """Official prompts from a user's copy of FastChat's judge_prompts.jsonl (records with "name",
        "system_prompt", "prompt_template"). Their placeholders ({question}, {answer_a}, {answer_b},
        {answer}, {question_1}, {answer_1}, {question_2}, {answer_2}, {ref_answer_1}) are translated to ours."""
        records = {rec["name"]: rec for rec in read_jsonl(path)}
        missing = [n for n in (pairwise, single, single_multi_turn) if n not in records]
        if missing:
            raise KeyError(f"{path} holds no judge prompt named {missing}; it has {sorted(records)}")

        def template(name):
            text = records[name]["prompt_template"]
            return re.sub(r"\{ref_answer_\d\}", "{reference}", text)

        return cls(system=records[pairwise]["system_prompt"], pairwise=template(pairwise),
                   single=template(single), single_multi_turn=template(single_multi_turn), source=str(path))

    def _fill(self, template: str, reference: str | None, **fields) -> list[dict]:
        block = REFERENCE_BLOCK.format(reference=reference) if reference is not None else ""
        text = template.format(reference_block=block, reference=reference or "", **fields)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]

    def pairwise_messages(self, question: str, answer_a: str, answer_b: str, reference: str | None = None):
        return self._fill(self.pairwise, reference, question=question, answer_a=answer_a, answer_b=answer_b)

    def single_messages(self, question: str, answer: str, reference: str | None = None):
        return self._fill(self.single, reference, question=question, answer=answer)

    def multi_turn_messages(self, questions: list[str], answers: list[str], reference: str | None = None):
        return self._fill(self.single_multi_turn, reference, question_1=questions[0], answer_1=answers[0],
                          question_2=questions[1], answer_2=answers[1])
