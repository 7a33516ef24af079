"""UI language: gettext catalogs (Babel) for zh-CN and en, chosen per request."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.core import negotiate_locale
from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
DEFAULT = "en"
COOKIE = "lang"


@lru_cache(maxsize=8)
def translations(lang: str) -> NullTranslations:
    """Compiled catalog for ``lang`` (English is the source language)."""
    if lang == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], domain="messages")


def formatting_gettext(tr: NullTranslations) -> Callable[..., str]:
    """``_("Only %(n)s left", n=3)``: translate first, then fill the named placeholders."""

    def gettext(message: str, **values: object) -> str:
        text = tr.gettext(message)
        return text % values if values else text

    return gettext


def normalise(tag: str | None) -> str | None:
    """Map ``zh-CN``/``zh``/``zh_Hans`` style tags onto a supported language, or None."""
    if not tag:
        return None
    tag = tag.replace("-", "_")
    if tag in LANGUAGES:
        return tag
    if tag.lower().startswith("zh"):
        return "zh_CN"
    if tag.lower().startswith("en"):
        return "en"
    return None


def choose_language(request: Request) -> str:
    """Explicit ``?lang=``, then the cookie, then Accept-Language, then English."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        chosen = normalise(candidate)
        if chosen:
            return chosen
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part.strip()]
    matched = negotiate_locale(preferred, list(LANGUAGES), sep="_") if preferred else None
    return normalise(matched) or normalise(next(iter(preferred), None)) or DEFAULT


def html_lang(lang: str) -> str:
    return str(Locale.parse(lang)).replace("_", "-")
