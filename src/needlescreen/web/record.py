"""The screening record for the chart: HTML with print CSS, and a PDF made by the product itself.

The record is built from the stored intake and result only (the service's append-only record, or a result file
for ``needlescreen record``): patient reference, clinician, date, technique and sites, each site's verdict,
reasons, what to do, the consent points to cover, the ruleset revision and hash, the decision id and a
signature line. It fits on one or two A4 pages.

The PDF is rendered in process by WeasyPrint over the system's Pango (no browser, no network): the same HTML
and print CSS a browser prints, laid out on A4.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from needlescreen import Screener, ScreeningResult
from needlescreen.intake import Intake

from .templating import STATIC_DIR, environment
from .view import result_view

__all__ = ["CONSENT_FILE", "ConsentPoint", "consent_points", "record_context", "record_html", "record_pdf"]

CONSENT_FILE = Path(__file__).resolve().parent / "data" / "consent.yaml"


class ConsentPoint(BaseModel):
    """One point to cover with the patient, with the sources that ask for it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    text: str = Field(min_length=10)
    sources: list[str] = Field(min_length=1)
    when: str | None = Field(default=None, pattern=r"^electrical$")


class _ConsentFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.consent/1$")
    points: list[ConsentPoint] = Field(min_length=1)


@cache
def _consent(path: Path = CONSENT_FILE) -> tuple[ConsentPoint, ...]:
    return tuple(_ConsentFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).points)


def consent_points(technique: str) -> list[ConsentPoint]:
    """The consent points for a plan (the electrical point only for electrical needling)."""
    return [p for p in _consent() if p.when is None or (p.when == "electrical" and technique == "electrical")]


def record_context(
    screener: Screener, intake: Intake | None, result: ScreeningResult, *, submitted_by: str | None = None
) -> dict[str, Any]:
    """What the record shows, as plain data (patient, clinician and date come from the intake's record)."""
    view = result_view(screener, intake, result)
    meta = intake.record if intake is not None else None
    # The sources of the reasons that applied and of the consent points (an undecided rule names its id only).
    cited = {s["key"]: s["citation"] for r in view["reasons"] if r["status"] == "fired" for s in r["sources"]}
    points = consent_points(result.technique)
    for p in points:
        for key in p.sources:
            source = screener.ruleset.sources.get(key)
            if source is not None:
                cited.setdefault(key, source.citation)
    return {
        "view": view,
        "patient_ref": meta.patient_ref if meta and meta.patient_ref else None,
        "clinician": meta.clinician if meta and meta.clinician else None,
        "clinic": meta.clinic if meta and meta.clinic else None,
        "encounter_date": meta.encounter_date.isoformat() if meta and meta.encounter_date else None,
        "screened_at": result.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "submitted_by": submitted_by,
        "consent": [{"text": p.text, "sources": p.sources} for p in points],
        "sources": sorted(cited.items()),
    }


def _css() -> str:
    return (STATIC_DIR / "record.css").read_text(encoding="utf-8")


def record_html(context: dict[str, Any], *, standalone: bool = False, static_url: str = "/static/") -> str:
    """The record page (``standalone`` inlines its CSS, for the PDF and for a file)."""
    return (
        environment()
        .get_template("record.html")
        .render(c=context, standalone=standalone, inline_css=_css() if standalone else "", static_url=static_url)
    )


def record_pdf(context: dict[str, Any]) -> bytes:
    """The record as an A4 PDF.

    Raises:
        RuntimeError: WeasyPrint or the system's Pango is not installed (the message says how to install it).
    """
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint is installed but the system's Pango is not
        raise RuntimeError(
            f"the PDF needs WeasyPrint and Pango: pip install 'needlescreen[web]' and the system's pango ({exc})"
        ) from None
    pdf: bytes = HTML(string=record_html(context, standalone=True), base_url=str(STATIC_DIR)).write_pdf()
    return pdf
