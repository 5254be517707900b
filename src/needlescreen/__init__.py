"""needlescreen: contraindication screening before dry needling and electrical dry needling.

Three lines screen a patient::

    import needlescreen
    result = needlescreen.screen({"patient": {...}, "plan": {...}})
    print(result.verdict)   # "clear", "caution" or "refer", with result.findings and result.missing
"""

from __future__ import annotations

from .engine import available_engines
from .errors import (
    EngineError,
    EngineUnavailableError,
    FieldProblem,
    IntakeError,
    NeedlescreenError,
    RuleFileError,
)
from .intake import Intake
from .result import FindingResult, MissingItem, ScreeningResult, SiteVerdict
from .ruleset import Ruleset, load_ruleset
from .screening import Screener, parse_intake, screen

__all__ = [
    "EngineError",
    "EngineUnavailableError",
    "FieldProblem",
    "FindingResult",
    "Intake",
    "IntakeError",
    "MissingItem",
    "NeedlescreenError",
    "RuleFileError",
    "Ruleset",
    "Screener",
    "ScreeningResult",
    "SiteVerdict",
    "available_engines",
    "load_ruleset",
    "parse_intake",
    "screen",
]
