"""``/questionnaire``: the intake questions with their wording, answer types and gating, for any form."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from needlescreen.questionnaire import Item, NotAsked, load_questionnaire
from needlescreen.server.auth import caller

__all__ = ["router"]

router = APIRouter(tags=["questionnaire"], dependencies=[Depends(caller)])


class QuestionnaireOut(BaseModel):
    """The questionnaire as data (``enable_when`` uses FHIR's enableWhen operators)."""

    model_config = ConfigDict(frozen=True)

    title: str
    items: list[Item]
    not_asked: list[NotAsked]


@lru_cache(maxsize=1)
def _questionnaire() -> dict[str, Any]:
    q = load_questionnaire()
    return {
        "title": q.title,
        "items": [i.model_dump(mode="json") for i in q.items],
        "not_asked": [n.model_dump(mode="json") for n in q.not_asked],
    }


@router.get("/questionnaire", response_model=QuestionnaireOut, summary="The intake questionnaire")
def questionnaire() -> dict[str, Any]:
    """Every question in order, with the answers that enable its follow-ups."""
    return _questionnaire()
