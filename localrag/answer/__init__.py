"""The answer stage: grounded generation with checked citations, or a refusal."""

from localrag.answer.answerer import Answer, Answerer

__all__ = ["Answer", "Answerer"]
