"""Server-rendered pages: template rendering with the request's language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keyrelay.catalog import kinds
from keyrelay.kit.money import format_minor
from keyrelay.web import i18n
from keyrelay.web.state import state_of


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` translated for this request; remembers an explicit ``?lang=``."""
    st = state_of(request)
    lang = i18n.choose_language(request)
    tr = i18n.translations(lang)
    gettext = i18n.formatting_gettext(tr)
    context.update(
        request=request,
        lang=lang,
        html_lang=i18n.html_lang(lang),
        languages=i18n.LANGUAGES,
        _=gettext,
        gettext=gettext,
        ngettext=tr.ngettext,
        money=format_minor,
        product_kind=kinds.get,
        product_kinds=kinds.all_kinds,
    )
    response = st.templates.TemplateResponse(request, template, context, status_code=status_code)
    if request.query_params.get("lang") and i18n.normalise(request.query_params["lang"]):
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def render_error(request: Request, status: int, title: str, detail: str, *, code: str = "") -> HTMLResponse:
    return render(request, "error.html", status_code=status, title=title, detail=detail, code=code)
