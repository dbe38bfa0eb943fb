"""Diagnosis: one line per finding, then one indented line per unit of it
(what it waits on, held by whom, where), then the notes."""

from __future__ import annotations

from typing import Any, Dict, List


def step_text(step: Dict[str, Any]) -> str:
    text = str(step.get("unit"))
    if step.get("waits"):
        text += f" waits on {step['waits']}"
    if step.get("held_by"):
        text += f" held by {step['held_by']}"
    elif step.get("owner"):
        text += f", {step['owner']}"
    if step.get("where"):
        text += f" at {step['where']}"
    return text


def diagnosis_lines(data: Dict[str, Any]) -> List[str]:
    lines: List[str] = []
    for finding in data.get("findings", []):
        lines.append(str(finding.get("summary", "")))
        if finding.get("kind") in ("deadlock", "crowd"):
            lines += [f"  {step_text(step)}" for step in finding.get("units", [])]
            shown = len(finding.get("units", []))
            if finding.get("count", 0) > shown:
                lines.append(f"  ... and {finding['count'] - shown:,} more")
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]
