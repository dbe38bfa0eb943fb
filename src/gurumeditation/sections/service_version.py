"""Package: vendor, product and version of the service.

The version object is duck-typed as in oslo.reports (``vendor_string()``,
``product_string()``, ``version_string_with_package()``), every method
optional; a plain string is taken as the version.

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


def collect(ctx: Context) -> ServiceVersionData:
    version_obj = ctx.version
    if version_obj is None or isinstance(version_obj, (str, int, float)):
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
