"""needlescreen: contraindication screening before dry needling and electrical dry needling.

Three lines screen a patient::

    import needlescreen
    result = needlescreen.screen({"patient": {...}, "plan": {...}})
    print(result.verdict)   # "clear", "caution" or "refer", with result.findings and result.missing
"""

from __future__ import annotations

from ._version import package_version as _package_version
from .engine import available_engines
from .errors import (
    EngineError,
    EngineUnavailableError,
    FieldProblem,
    IntakeError,
    NeedlescreenError,
    PolicyError,
    RuleFileError,
)
from .intake import Intake
from .result import FindingResult, MissingItem, ScreeningResult, SiteVerdict
from .ruleset import Ruleset, load_ruleset
from .screening import Screener, parse_intake, screen

#: The installed package's version (also ``needlescreen --version`` and every result's ``package_version``).
__version__: str = _package_version()

__all__ = [
    "EngineError",
    "EngineUnavailableError",
    "FieldProblem",
    "FindingResult",
    "Intake",
    "IntakeError",
    "MissingItem",
    "NeedlescreenError",
    "PolicyError",
    "RuleFileError",
    "Ruleset",
    "Screener",
    "ScreeningResult",
    "SiteVerdict",
    "__version__",
    "available_engines",
    "load_ruleset",
    "parse_intake",
    "screen",
]
