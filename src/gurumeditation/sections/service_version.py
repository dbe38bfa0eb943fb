"""Package: vendor, product and version of the service.

The version object is duck-typed as in oslo.reports (``vendor_string()``,
``product_string()``, ``version_string_with_package()``), every method
optional; a plain string is taken as the version.  Without one (zero-code,
``gurumeditation run``), the section tells the installed distribution the
main module comes from (a console script's package, ``python -m``'s), read
from its core metadata: ``Name``, ``Author`` (else ``Author-email``'s name,
``Maintainer``), ``Version``.

Data: :class:`~gurumeditation.model.ServiceVersionData`.
"""

from __future__ import annotations

from typing import Any, Optional

from ..model import ServiceVersionData, safe_str
from ..report import Context, SectionSpec


def _ask(version_obj: Any, method: str) -> Optional[str]:
    fn = getattr(version_obj, method, None)
    if fn is None:
        return None
    try:
        value = fn() if callable(fn) else fn
    except Exception as exc:  # a broken version object must not cost the report
        return f"<{method}() failed: {type(exc).__name__}: {safe_str(exc)}>"
    return None if value is None else safe_str(value)


def inferred(service: Optional[str]) -> ServiceVersionData:
    """No version object: the distribution the main module comes from
    (``uvicorn`` run zero-code: uvicorn, its author, its version), else the
    service name alone."""
    from .distributions import main_distribution

    try:
        dist = main_distribution()
        if dist is not None:
            return {"product": dist.name, "vendor": dist.vendor(), "version": dist.version}
    except Exception:
        pass
    return {"product": service or None, "vendor": None, "version": None}


def collect(ctx: Context) -> ServiceVersionData:
    version_obj = ctx.version
    if version_obj is None:
        return inferred(ctx.service)
    if isinstance(version_obj, (str, int, float)):
        return {
            "product": ctx.service or None,
            "vendor": None,
            "version": None if version_obj is None else str(version_obj),
        }
    data: ServiceVersionData = {
        "product": _ask(version_obj, "product_string"),
        "vendor": _ask(version_obj, "vendor_string"),
        "version": _ask(version_obj, "version_string_with_package"),
    }
    if data["version"] is None:
        fallback = _ask(version_obj, "version_string") or _ask(version_obj, "release_string")
        data["version"] = fallback
    return data


SECTION = SectionSpec("package", "Package", collect)
