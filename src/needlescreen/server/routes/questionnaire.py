"""``/questionnaire``: the intake questions with their wording, answer types and gating, for any form."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from needlescreen.questionnaire import Item, NotAsked, load_questionnaire
from needlescreen.server.auth import caller
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service

__all__ = ["router"]

router = APIRouter(tags=["questionnaire"], dependencies=[Depends(caller)])


class QuestionnaireOut(BaseModel):
    """The questionnaire as data (``enable_when`` uses FHIR's enableWhen operators)."""

    model_config = ConfigDict(frozen=True)

    title: str
    items: list[Item]
    not_asked: list[NotAsked]


@lru_cache(maxsize=4)
def _questionnaire(directory: str) -> dict[str, Any]:
    # The questionnaire beside the rules this worker screens with (as `ask --rules`), else the bundled one.
    path = Path(directory) / "questionnaire.yaml"
    q = load_questionnaire(path if path.is_file() else None)
    return {
        "title": q.title,
        "items": [i.model_dump(mode="json") for i in q.items],
        "not_asked": [n.model_dump(mode="json") for n in q.not_asked],
    }


@router.get("/questionnaire", response_model=QuestionnaireOut, summary="The intake questionnaire")
def questionnaire(svc: Annotated[Service, Depends(service)]) -> dict[str, Any]:
    """Every question in order, with the answers that enable its follow-ups."""
    return _questionnaire(svc.screener.ruleset.directory)
