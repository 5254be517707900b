"""The body map: SVG shapes for the site regions of ``rules/regions.yaml``, front and back, left and right.

The layout (``data/bodymap.yaml``) only says where a region is drawn; its label, whether it needs a side and
what it lies within come from the ruleset's region map, so the map, the rules and the autocomplete cannot
disagree about what a place is. Choosing a shape writes the words a clinician would type ("left forearm") into
the sites or locations field, which the questionnaire then parses like any typed answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from needlescreen.regions import RegionMap

__all__ = ["FIGURE_WIDTH", "LAYOUT_FILE", "Shape", "load_layout", "shapes", "site_regions"]

LAYOUT_FILE = Path(__file__).resolve().parent / "data" / "bodymap.yaml"
FIGURE_WIDTH = 200
_CENTRES = {"front": 100, "back": 320}


class _ShapeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    region: str
    view: Literal["front", "back"]
    x: float = Field(ge=0, le=100)
    y: float = Field(ge=0, le=440)
    rx: float = Field(gt=0, le=60)
    ry: float = Field(gt=0, le=60)


class _Layout(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.bodymap/1$")
    shapes: list[_ShapeSpec]


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn place: a region on one side (or on the midline), in one view."""

    region: str
    side: str | None
    view: str
    cx: float
    cy: float
    rx: float
    ry: float
    label: str

    @property
    def words(self) -> str:
        """What choosing the shape types into a field ("left upper trapezius")."""
        name = self.region.replace("_", " ")
        return f"{self.side} {name}" if self.side else name


@cache
def load_layout(path: Path = LAYOUT_FILE) -> tuple[_ShapeSpec, ...]:
    """The layout file, validated (shipped with the package, read once)."""
    return tuple(_Layout.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).shapes)


def site_regions(regions: RegionMap) -> list[str]:
    """Every region a site can be planned at (groupings are not places)."""
    return [r for r in regions.ids() if not regions[r].group]


def shapes(regions: RegionMap, layout: Iterable[_ShapeSpec] | None = None) -> list[Shape]:
    """The map's shapes over a region map; a shape of a region the map does not know is dropped."""
    out: list[Shape] = []
    for spec in layout if layout is not None else load_layout():
        if spec.region not in regions:
            continue
        region = regions[spec.region]
        centre = _CENTRES[spec.view]
        sides: tuple[str | None, ...] = ("right", "left") if region.sided or spec.x > 0 else (None,)
        for side in sides:
            # front: the patient's right on the viewer's left; back: on the viewer's right
            toward = -1 if side == "right" else 1
            if spec.view == "back":
                toward = -toward
            cx = centre + toward * spec.x if side else centre
            label = f"{side} {region.label}" if side else region.label
            out.append(Shape(spec.region, side, spec.view, cx, spec.y, spec.rx, spec.ry, label))
    # Larger shapes first, so a small region drawn over a larger one (the nipple on the breast) stays on top.
    out.sort(key=lambda s: -(s.rx * s.ry))
    return out


def verdict_of_shapes(shape_list: Iterable[Shape], sites: Mapping[tuple[str, str | None], str]) -> dict[int, str]:
    """For each shape index, the worst verdict of the planned sites drawn there (no entry: no site there)."""
    rank = {"clear": 0, "caution": 1, "refer": 2}
    out: dict[int, str] = {}
    for i, shape in enumerate(shape_list):
        for (region, side), verdict in sites.items():
            if region != shape.region:
                continue
            if shape.side is not None and side not in (shape.side, None, "midline"):
                continue
            if i not in out or rank[verdict] > rank[out[i]]:
                out[i] = verdict
    return out
