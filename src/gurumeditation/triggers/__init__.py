"""Triggers: what asks for a report (a signal, a touched file, the API, the CLI).

A trigger only decides *when*; it calls back into the report run and knows
nothing of sections, renderers or sinks.
"""
