"""The web routes: the form, the result, drafts, sign-in, the printable record and the catalogue.

Each page is a thin shell over one function that the JSON twin calls too (Datasette's pattern): the form and
its live re-screening (``POST /screen`` and ``POST /screen.json``) read the answers with
:func:`needlescreen.web.forms.read_form` and show :func:`needlescreen.web.view.result_view`. Without JavaScript
every page works by plain form posts; with it, the form re-screens as answers change through the JSON twin.
None of these routes is part of the OpenAPI document (they answer HTML to people, not JSON to integrators).
``GET /from-chart/{token}`` opens a draft the CDS Hooks service prefilled from the chart (a card's link), once.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from needlescreen import IntakeError, parse_intake
from needlescreen.medications import drug_dictionary
from needlescreen.questionnaire import Questionnaire, load_questionnaire
from needlescreen.ruleset import Ruleset
from needlescreen.server.logs import elapsed_ms, log_event
from needlescreen.server.service import Service
from needlescreen.server.store import ScreeningRecord

from . import auth
from .bodymap import shapes, verdict_of_shapes
from .catalogue import index_page, rule_page
from .drafts import CHART_NOTE, LINK_PATH, Draft, Drafts
from .forms import RECORD_FIELDS, FormState, form_tree, read_form
from .record import record_context, record_html, record_pdf
from .templating import environment
from .view import result_view

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_MAX_FORM = 128 * 1024
_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --- what every page needs ------------------------------------------------------------------------------------


def _svc(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def questionnaire(request: Request) -> Questionnaire:
    """The questionnaire of the ruleset this worker screens with (its directory's ``questionnaire.yaml``)."""
    state = request.app.state
    q: Questionnaire | None = getattr(state, "web_questionnaire", None)
    if q is None:
        ruleset = _svc(request).screener.ruleset
        path = Path(ruleset.directory) / "questionnaire.yaml"
        q = load_questionnaire(path if path.is_file() else None, regions=ruleset.regions, vocabulary=ruleset.vocabulary)
        state.web_questionnaire = q
    return q


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = auth.current(request)
    context.setdefault("signed_in", session.principal if session and auth.auth_required(request) else None)
    context["csrf"] = auth.csrf_token(request)
    context["static_url"] = "/static/"
    response = HTMLResponse(environment().get_template(template).render(**context), status, headers=_HTML_HEADERS)
    auth.remember_csrf(request, response)
    return response


def _need_session(request: Request) -> Response | auth.Session:
    session = auth.current(request)
    if session is not None:
        return session
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM:
        raise ValueError("the form is larger than a screening can be")
    return dict(parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True))


def _csrf_error(request: Request) -> HTMLResponse:
    return _page(request, "csrf_error.html", 403)


# --- the form ------------------------------------------------------------------------------------------------


def _suggestions(ruleset: Ruleset) -> dict[str, list[str]]:
    regions = ruleset.regions
    region_words = [r.replace("_", " ") for r in regions.ids()]
    site_regions = [r.replace("_", " ") for r in regions.ids() if not regions[r].group]
    nerves = [f"{n.replace('_', ' ')} nerve" for n in sorted(ruleset.body.nerves)]
    return {
        "sites": sorted(set(ruleset.vocabulary.names()) | set(site_regions) | set(nerves)),
        "locations": sorted(region_words),
        "devices": [
            k.replace("_", " ")
            for k in (
                "pacemaker",
                "icd",
                "spinal_cord_stimulator",
                "neurostimulator",
                "drug_pump",
                "cochlear_implant",
                "port_picc",
                "breast_implant",
                "joint_prosthesis",
                "metal_fixation",
            )
        ],
    }


def _screen(request: Request, state: FormState) -> tuple[Any, dict[str, Any] | None]:
    """Screen the form's intake; a place or name the rules refuse becomes the question's error."""
    svc = _svc(request)
    q = questionnaire(request)
    if state.intake is None:
        return None, None
    try:
        result = svc.screen(state.intake)
    except IntakeError as exc:
        for problem in exc.problems:
            path = problem.path
            item = next((i for i in q.items if i.path and path.startswith(i.path)), None)
            state.errors[item.id if item else "form"] = problem.message
        state.intake = None
        return None, None
    return result, result_view(svc.screener, state.intake, result, q=q, state=state)


def _form_context(request: Request, state: FormState, view: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    q = questionnaire(request)
    ruleset = _svc(request).screener.ruleset
    map_shapes = shapes(ruleset.regions)
    coloured = {}
    if view is not None:
        coloured = verdict_of_shapes(map_shapes, {(s["region"], s["side"]): s["shown_as"] for s in view["sites"]})
    return {
        "q": q,
        "tree": form_tree(q),
        "state": state,
        "view": view,
        "record_fields": RECORD_FIELDS,
        "shapes": list(enumerate(map_shapes)),
        "coloured": coloured,
        "suggestions": _suggestions(ruleset),
        **extra,
    }


def _empty_state(request: Request, raw: dict[str, str] | None = None) -> FormState:
    q = questionnaire(request)
    form = {f"q.{k}": v for k, v in (raw or {}).items() if not k.startswith("r.")}
    form |= {k: v for k, v in (raw or {}).items() if k.startswith("r.")}
    return read_form(q, form, screen=False, complete=False)


@router.get("/")
async def form_page(request: Request) -> Response:
    """A new screening."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    return _page(request, "form.html", **_form_context(request, _empty_state(request), None))


@router.post("/screen")
async def screen_form(request: Request) -> Response:
    """Read the answers; show the form again (with what they open) or the result; save a draft or a record."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    try:
        form = await _form(request)
    except (ValueError, UnicodeDecodeError):
        return _page(request, "csrf_error.html", 413)
    if not auth.check_csrf(request, form.get("csrf_token")):
        return _csrf_error(request)
    action = form.get("action", "result")
    q = questionnaire(request)
    complete = action in ("result", "record")
    state = await run_in_threadpool(lambda: read_form(q, form, complete=complete))
    if action == "draft":
        return await _save_draft(request, session, form)
    result, view = await run_in_threadpool(_screen, request, state)
    if action == "record" and result is not None and not state.errors:
        return await _store(request, session, state)
    if action in ("update", "edit") or view is None or state.errors:
        return _page(
            request,
            "form.html",
            status=200 if not state.errors or action in ("update", "edit") else 422,
            **_form_context(request, state, view),
        )
    return _page(request, "result.html", **_form_context(request, state, view))


@router.post("/screen.json")
async def screen_json(request: Request) -> Response:
    """The form's JSON twin: which questions show, what is wrong, and the result view (when it screens)."""
    session = _need_session(request)
    if isinstance(session, Response):
        return Response(b'{"error":"sign in first"}', status_code=401, media_type="application/json")
    try:
        form = await _form(request)
    except (ValueError, UnicodeDecodeError):
        return Response(b'{"error":"form too large"}', status_code=413, media_type="application/json")
    if not auth.check_csrf(request, form.get("csrf_token")):
        return Response(b'{"error":"missing or wrong CSRF token"}', status_code=403, media_type="application/json")
    start = time.perf_counter()
    q = questionnaire(request)
    state = await run_in_threadpool(lambda: read_form(q, form, complete=False))
    _result, view = await run_in_threadpool(_screen, request, state)
    panel = environment().get_template("_live.html").render(view=view, state=state)
    body = {
        "form": {"enabled": state.enabled, "errors": state.errors, "answered": state.answered},
        "view": view,
        "fragments": {"live": panel},
    }
    log_event("web_screen", verdict=view["verdict"] if view else None, ms=elapsed_ms(start))
    return Response(orjson.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/suggest/drugs")
async def suggest_drugs(request: Request, q: str = "") -> Response:
    """Drug names starting with what was typed (the drug dictionary the screening itself reads)."""
    if isinstance(_need_session(request), Response):
        return Response(b"[]", status_code=401, media_type="application/json")
    prefix = q.strip().lower()
    if len(prefix) < 2:
        return Response(b"[]", media_type="application/json")
    names = await run_in_threadpool(_drug_names)
    at = bisect_left(names, prefix)
    found = []
    for name in names[at : at + 200]:
        if not name.startswith(prefix):
            break
        found.append(name)
        if len(found) == 10:
            break
    return Response(orjson.dumps(found), media_type="application/json")


@cache
def _drug_names() -> list[str]:
    dictionary = drug_dictionary()
    return sorted({n for n in dictionary.canonical if n.isascii()} | set(dictionary.canonical.values()))


# --- records -------------------------------------------------------------------------------------------------


async def _store(request: Request, session: auth.Session, state: FormState) -> Response:
    from needlescreen.server.batching import serialise_intake
    from needlescreen.server.routes.screenings import _row

    svc = _svc(request)
    intake = state.intake
    assert intake is not None
    result = svc.screen(intake)
    who = session.who
    row = _row(
        intake,
        intake_json=serialise_intake(intake),
        result=result,
        result_json=result.model_dump_json(),
        who=who,
        tenant=who.clinic,
    )
    await run_in_threadpool(svc.store.add, row)
    log_event("screening", decision_id=result.decision_id, verdict=result.verdict, stored=True, source="web")
    return RedirectResponse(f"/screenings/{result.decision_id}/record", status_code=303)


def _record_row(request: Request, session: auth.Session, record_id: str) -> ScreeningRecord | None:
    """The stored record, if this session's clinic may see it (the one place the web reads a record).

    Another clinic's record is not found, as in the API: its existence is not disclosed."""
    if len(record_id) != 36 or any(c not in "0123456789abcdef-" for c in record_id):
        return None
    return _svc(request).store.get(record_id, scope=session.who.scope)


def _record_context(request: Request, row: ScreeningRecord) -> dict[str, Any]:
    svc = _svc(request)
    intake = parse_intake(row.intake_json)
    from needlescreen import ScreeningResult

    result = ScreeningResult.model_validate_json(row.result_json)
    return record_context(svc.screener, intake, result, submitted_by=row.submitted_by)


@router.get("/screenings/{record_id}/record")
async def record_page(request: Request, record_id: str) -> Response:
    """The printable screening record (HTML with print CSS)."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    row = await run_in_threadpool(_record_row, request, session, record_id)
    if row is None:
        return _page(request, "not_found.html", 404)
    context = await run_in_threadpool(_record_context, request, row)
    html = record_html(context)
    return HTMLResponse(html, headers=_HTML_HEADERS)


@router.get("/screenings/{record_id}/record.json")
async def record_json(request: Request, record_id: str) -> Response:
    """The record page's JSON twin."""
    session = _need_session(request)
    if isinstance(session, Response):
        return Response(b'{"error":"sign in first"}', status_code=401, media_type="application/json")
    row = await run_in_threadpool(_record_row, request, session, record_id)
    if row is None:
        return Response(b'{"error":"no screening record with this id"}', status_code=404, media_type="application/json")
    context = await run_in_threadpool(_record_context, request, row)
    return Response(orjson.dumps(context), media_type="application/json")


@router.get("/screenings/{record_id}/record.pdf")
async def record_pdf_route(request: Request, record_id: str) -> Response:
    """The record as an A4 PDF, made by the service itself."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    row = await run_in_threadpool(_record_row, request, session, record_id)
    if row is None:
        return _page(request, "not_found.html", 404)
    context = await run_in_threadpool(_record_context, request, row)
    pdf = await run_in_threadpool(record_pdf, context)
    name = f"screening-{row.patient_ref or 'record'}-{row.id[:8]}.pdf".replace('"', "")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
    )


# --- drafts --------------------------------------------------------------------------------------------------


def _drafts(request: Request) -> Drafts:
    return Drafts(_svc(request).store)


async def _save_draft(request: Request, session: auth.Session, form: dict[str, str]) -> Response:
    # "c." fields: what a draft prefilled from the chart says came from it (kept while the draft is worked on).
    answers = {k: v for k, v in form.items() if (k.startswith(("q.", "r.", "c."))) and v != ""}
    label = form.get("r.patient_ref") or None
    draft_id = form.get("draft_id") or None
    try:
        draft = await run_in_threadpool(
            _drafts(request).save, session.principal, answers, draft_id=draft_id, label=label
        )
    except KeyError:
        draft = await run_in_threadpool(_drafts(request).save, session.principal, answers, label=label)
    except ValueError:
        return _page(request, "csrf_error.html", 413)
    return RedirectResponse(f"/drafts/{draft.id}?saved=1", status_code=303)


@router.get("/drafts")
async def drafts_page(request: Request) -> Response:
    """This principal's saved drafts, to resume one."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    drafts = await run_in_threadpool(_drafts(request).list, session.principal)
    return _page(request, "drafts.html", drafts=drafts)


@router.get("/drafts/{draft_id}")
async def draft_page(request: Request, draft_id: str, saved: str | None = None) -> Response:
    """Resume a draft: the form with its answers."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    draft = await run_in_threadpool(_drafts(request).get, session.principal, draft_id)
    if draft is None:
        return _page(request, "not_found.html", 404)
    q = questionnaire(request)
    state = await run_in_threadpool(lambda: read_form(q, draft.answers, complete=False))
    _result, view = await run_in_threadpool(_screen, request, state)
    context = _form_context(request, state, view, draft=draft, saved=bool(saved))
    chart = _chart_note(draft)
    if chart is not None:  # prefilled from the chart by the CDS Hooks service: say which answers came from it
        return _page(request, "chart_form.html", chart=chart, chart_json=draft.answers[CHART_NOTE], **context)
    return _page(request, "form.html", **context)


def _chart_note(draft: Draft) -> dict[str, Any] | None:
    raw = draft.answers.get(CHART_NOTE)
    try:
        note = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    return note if isinstance(note, dict) else None


@router.get(LINK_PATH)
async def from_chart(request: Request, token: str, go: str | None = None) -> Response:
    """Open the draft a CDS Hooks card's link hands over (prefilled from the chart): once, for who opens it."""
    session = auth.current(request)
    if session is None:
        if go is None:
            # Opened from the EHR's page, another site: the browser withheld the SameSite=Strict session cookie.
            # One step from this site sends it, or leads to the sign-in when there is no session.
            return _page(request, "from_chart.html", continue_url=f"/from-chart/{quote(token, safe='')}?go=1")
        target = f"/from-chart/{quote(token, safe='')}?go=1"
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303, headers=_HTML_HEADERS)
    draft = await run_in_threadpool(_drafts(request).claim, token, session.principal)
    if draft is None:
        log_event("web_from_chart", opened=False)
        return _page(request, "from_chart.html", 410, gone=True)
    log_event("web_from_chart", opened=True, draft=draft.id)
    # Nothing after this carries the token: not the address bar, not a Referer.
    return RedirectResponse(f"/drafts/{draft.id}", status_code=303, headers=_HTML_HEADERS)


@router.post("/drafts/{draft_id}/delete")
async def delete_draft(request: Request, draft_id: str) -> Response:
    """Delete a draft."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    form = await _form(request)
    if not auth.check_csrf(request, form.get("csrf_token")):
        return _csrf_error(request)
    await run_in_threadpool(_drafts(request).delete, session.principal, draft_id)
    return RedirectResponse("/drafts", status_code=303)


# --- sign-in -------------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    """Sign in with a clinic key (only when the service has keys)."""
    if not auth.auth_required(request):
        return RedirectResponse("/", status_code=303)
    return _page(request, "sign_in.html", next=_safe_next(next), error=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Turn a clinic key into a session cookie."""
    form = await _form(request)
    if not auth.check_csrf(request, form.get("csrf_token")):
        return _csrf_error(request)
    target = _safe_next(form.get("next"))
    principal = auth.principal_for_key(request, form.get("key", "").strip()) if auth.auth_required(request) else None
    if principal is None:
        log_event("web_sign_in", ok=False)
        return _page(request, "sign_in.html", 401, next=target, error="That key is not valid for this service.")
    response = RedirectResponse(target, status_code=303)
    auth.sign_in(request, response, principal)
    log_event("web_sign_in", ok=True, principal=principal.fingerprint)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session."""
    form = await _form(request)
    if not auth.check_csrf(request, form.get("csrf_token")):
        return _csrf_error(request)
    response = RedirectResponse("/sign-in" if auth.auth_required(request) else "/", status_code=303)
    auth.sign_out(response)
    return response


# --- the catalogue -------------------------------------------------------------------------------------------


@router.get("/catalogue/")
@router.get("/catalogue/index.html")
async def catalogue_index(request: Request) -> Response:
    """The rule catalogue by topic."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    html = index_page(_svc(request).screener.ruleset, static_url="/static/", rule_url="/catalogue/rules/{id}.html")
    return HTMLResponse(html, headers=_HTML_HEADERS)


@router.get("/catalogue/rules/{rule_id}.html")
async def catalogue_rule(request: Request, rule_id: str) -> Response:
    """One rule as living documentation, with its scenarios."""
    session = _need_session(request)
    if isinstance(session, Response):
        return session
    ruleset = _svc(request).screener.ruleset
    try:
        rule = ruleset.rule(rule_id.upper())
    except KeyError:
        return _page(request, "not_found.html", 404)
    html = rule_page(rule, ruleset, static_url="/static/", index_url="/catalogue/")
    return HTMLResponse(html, headers=_HTML_HEADERS)
