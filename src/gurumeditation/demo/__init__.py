"""The bundled demo service (``gurumeditation demo`` runs it and asks it for a report)."""
