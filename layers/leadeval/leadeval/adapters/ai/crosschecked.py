"""A vision model whose answers are cross-checked against the OCR of the page (issue 12, "two readers").

:class:`OcrCrossCheckedModel` wraps any :class:`~leadeval.ports.VisionModel` (Workers AI, an OpenAI-compatible
endpoint) when an OCR engine is configured: after the model answers, the document's first page is rendered and
OCR'd by the offline reader (:meth:`leadeval.adapters.ai.offline.OfflineVisionModel.cross_check`, within its
OCR page caps) and the model's figures are compared with OCR's
(:func:`leadeval.screening.crosscheck.cross_check`): a disagreement is a ``readers_disagree`` signal (medium:
the model may be the one that is wrong), an agreement makes the model's value certain.
"""

from __future__ import annotations

from typing import Any

from leadeval.adapters.ai.offline import OfflineVisionModel
from leadeval.models import Extraction, PreparedDocument
from leadeval.screening.crosscheck import Reading


class OcrCrossCheckedModel:
    """``model`` with its answers cross-checked by ``reader``'s OCR (see the module docstring).

    Args:
        model: the vision model asked (its ``name`` is this model's name).
        reader: the offline reader holding the OCR engine and the page caps (``reader.ocr`` must be set).
    """

    def __init__(self, model: Any, reader: OfflineVisionModel) -> None:
        if reader.ocr is None:
            raise ValueError("the cross-check needs an OCR engine")
        self.model = model
        self.reader = reader
        self.name: str = model.name

    def for_job(self) -> OcrCrossCheckedModel:
        """The same model and engine with one job's OCR page count starting at zero."""
        inner = self.model.for_job() if hasattr(self.model, "for_job") else self.model
        return OcrCrossCheckedModel(inner, self.reader.for_job())

    def extract(self, document: PreparedDocument) -> Extraction:
        """The model's extraction, plus the cross-check's signals and certain fields. Errors of the model
        propagate unchanged; a model answer without facts is returned as is (nothing to compare)."""
        extraction: Extraction = self.model.extract(document)
        if extraction.facts is None or not document.image_count:
            return extraction
        first = Reading("vision model", extraction.facts, extraction.evidence)
        evidence, signals, note = self.reader.cross_check(document, first, [1])
        notes = "; ".join(n for n in (extraction.note, note) if n) or None
        return extraction.model_copy(update={"evidence": evidence, "signals": [*extraction.signals, *signals],
                                             "note": notes})
