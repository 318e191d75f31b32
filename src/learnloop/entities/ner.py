"""A named-entity model, used only when one is installed: spaCy or GLiNER (adapters).

Nothing is downloaded. ``LEARNLOOP_NER`` chooses:

- ``auto`` (the default): a spaCy pipeline installed as a package (``python -m spacy
  download en_core_web_sm`` puts one there), if spaCy and one are installed; else none;
- ``off``: none;
- ``spacy:NAME`` (a package or a folder) or ``gliner:PATH`` (a folder holding a GLiNER
  model, loaded with ``local_files_only``): that one, or an error naming what is missing.

Any object with ``name`` and ``entities(text)`` returning (start, end, label, score)
tuples is a model (``Ner``); pass one to ``Entities(..., ner=...)``.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

from learnloop.errors import ConfigurationError

Span = tuple[int, int, str, float]
GLINER_LABELS = ("person", "organization", "location", "product")


class Ner(Protocol):
    name: str

    def entities(self, text: str) -> list[Span]:
        """(start, end, label, score) for each entity the model finds."""
        ...


class SpacyNer:
    def __init__(self, pipeline: str):
        import spacy

        self.name = f"spacy:{pipeline}"
        try:
            self.nlp: Any = spacy.load(pipeline)
        except OSError as exc:  # E050: neither an installed package nor a pipeline folder
            raise ConfigurationError(
                f"LEARNLOOP_NER={self.name!r}: spaCy cannot load {pipeline!r}, neither an "
                "installed pipeline package nor a folder saved with nlp.to_disk"
            ) from exc

    def entities(self, text: str) -> list[Span]:
        return [(e.start_char, e.end_char, e.label_.lower(), 1.0) for e in self.nlp(text).ents]


class GlinerNer:
    def __init__(self, path: str, labels: tuple[str, ...] = GLINER_LABELS):
        from gliner import GLiNER

        self.name = f"gliner:{path}"
        self.labels = list(labels)
        self.model: Any = GLiNER.from_pretrained(path, local_files_only=True)

    def entities(self, text: str) -> list[Span]:
        found = self.model.predict_entities(text, self.labels)
        return [(e["start"], e["end"], e["label"], float(e["score"])) for e in found]


def installed_spacy_pipelines() -> list[str]:
    """The spaCy pipelines installed as packages; none without spaCy."""
    if importlib.util.find_spec("spacy") is None:
        return []
    import spacy.util

    return sorted(spacy.util.get_installed_models())


def load_ner(choice: str) -> Ner | None:
    """The model ``LEARNLOOP_NER`` names (see the module docstring), or None."""
    kind, _, target = choice.partition(":")
    if kind == "off":
        return None
    if kind == "auto" and not target:
        pipelines = installed_spacy_pipelines()
        return SpacyNer(pipelines[0]) if pipelines else None
    if kind not in ("spacy", "gliner") or not target:
        raise ConfigurationError(
            f"LEARNLOOP_NER={choice!r}: write auto, off, spacy:NAME or gliner:PATH"
        )
    if importlib.util.find_spec(kind) is None:
        raise ConfigurationError(f"LEARNLOOP_NER={choice!r}: the {kind} package is not installed")
    return SpacyNer(target) if kind == "spacy" else GlinerNer(target)
