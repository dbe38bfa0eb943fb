"""gurumeditation: Guru Meditation Reports for any Python process.

``import gurumeditation`` is cheap: it imports nothing until a name is used::

    from gurumeditation import TextGuruMeditation
    TextGuruMeditation.setup_autorun(version, conf=CONF, log_dir='/var/log/mysvc')
"""

__version__ = "0.1.0"

__all__ = ["GuruMeditation", "TextGuruMeditation", "__version__", "guru_meditation_report"]

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover  (no `typing` import at run time: it costs ~10 ms)
    from . import guru_meditation_report
    from .guru_meditation_report import GuruMeditation, TextGuruMeditation


def __getattr__(name):  # type: ignore[no-untyped-def]
    # Lazy: the facade (and the sections, renderers and sinks it needs) are
    # imported on first use, so a process that never asks pays nothing.
    if name in ("GuruMeditation", "TextGuruMeditation"):
        from . import guru_meditation_report as facade

        return getattr(facade, name)
    if name == "guru_meditation_report":
        import importlib

        return importlib.import_module(".guru_meditation_report", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
