"""``docs build``: the rule catalogue as static HTML pages, with each rule's scenarios (needs the web extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import PolicyOpt, RulesOpt, _fail, _user_errors, app

docs_app = typer.Typer(help="The rule catalogue as living documentation.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")


@docs_app.command("build")
def build(
    out: Annotated[Path, typer.Argument(help="The folder to write the pages to (created if missing).")],
    *,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Write an HTML page per rule and an index by topic (summary, verdict, policy, sources, scenarios)."""
    from needlescreen.ruleset import load_ruleset

    try:
        from needlescreen.web.catalogue import build as build_pages
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("jinja2", "itsdangerous", "weasyprint", "fastapi", "starlette"):
            raise
        raise _fail("error: the catalogue pages need the web extra: pip install 'needlescreen[web]'", 2) from None
    with _user_errors():
        ruleset = load_ruleset(rules, policy_file=policy)
    try:
        pages = build_pages(ruleset, out)
    except OSError as exc:
        raise _fail(f"error: cannot write {out}: {exc.strerror}", 2) from None
    typer.echo(f"wrote {len(pages)} pages to {out} (open {out / 'index.html'})")
