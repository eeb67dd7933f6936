"""rapidocr as a :class:`~leadeval.ports.PageReader`: words and their boxes from a page image, offline.

rapidocr (PP-OCRv6 detection and recognition, ONNX Runtime) ships its models inside its wheel; this adapter
passes their paths explicitly (``Det.model_path``, ``Rec.model_path``), so the engine never looks for a model
elsewhere and never downloads one. The 0°/180° line classifier is off (``Global.use_cls=False``): it flips
passport MRZ lines, and leadeval applies EXIF orientation before any image reaches it. ONNX Runtime runs
with as many intra-op threads as CPUs are available to the process (``os.sched_getaffinity``), one inter-op
thread. Measured on this project's machine kind: about 4 CPU-seconds per 1120-px page, ~0.6–1 GB peak
(``docs/benchmarks.md``).

rapidocr, onnxruntime and OpenCV are the ``ocr`` extra (about 270 MB): not in the zip layer; the container
image of the worker carries them (README, "OCR"). :func:`ocr_available` tells whether they are installed;
nothing is imported until the first page is read.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any

from leadeval.errors import DocumentUnreadable
from leadeval.models import PageLayout, PageWord

logger = logging.getLogger(__name__)

#: The models this adapter uses, as shipped in the rapidocr wheel (``rapidocr/models/``).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"


def ocr_available() -> bool:
    """True when rapidocr and onnxruntime are installed (the ``ocr`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("rapidocr", "onnxruntime"))


def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class RapidOcrReader:
    """rapidocr behind :class:`~leadeval.ports.PageReader` (see the module docstring).

    Args:
        threads: ONNX Runtime intra-op threads; None = :func:`available_cpus`.

    The engine (~0.1 s, the ONNX sessions) is built on the first :meth:`read` and reused; calls are
    serialised by a lock (one engine, CPU-bound work).
    """

    name = "rapidocr"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or available_cpus()
        self._engine: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        import rapidocr
        from rapidocr import RapidOCR

        models = Path(rapidocr.__file__).parent / "models"
        det, rec = models / DET_MODEL, models / REC_MODEL
        for path in (det, rec):
            if not path.is_file():
                raise FileNotFoundError(f"rapidocr wheel has no {path.name}")
        return RapidOCR(params={
            "Global.use_cls": False,
            "Global.return_word_box": True,
            "Global.log_level": "warning",
            "Det.model_path": str(det),
            "Rec.model_path": str(rec),
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })

    def read(self, image: bytes, page: int) -> PageLayout:
        """Words of ``image`` (see :meth:`leadeval.ports.PageReader.read`). Raises DocumentUnreadable when
        the bytes are not a decodable image."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(image)) as probe:
                width, height = probe.size
        except (UnidentifiedImageError, OSError) as exc:
            raise DocumentUnreadable(f"page {page} image cannot be decoded for OCR ({type(exc).__name__})") from exc
        with self._lock:
            if self._engine is None:
                self._engine = self._build()
            result = self._engine(image)
        words = _words(result, width, height)
        logger.info("ocr page read", extra={"page": page, "words": len(words), "engine": self.name})
        return PageLayout(page=page, how="ocr", words=words)


def _words(result: Any, width: int, height: int) -> list[PageWord]:
    """PageWords from a rapidocr result: its per-word boxes when present, else each line as one word."""
    words: list[PageWord] = []
    lines = list(zip(result.boxes if result.boxes is not None else [], result.txts or (), result.scores or (),
                     strict=False))
    per_word = getattr(result, "word_results", None) or ()
    for index, (box, text, score) in enumerate(lines):
        parts = per_word[index] if index < len(per_word) else ()
        if parts and all(len(part) == 3 for part in parts):
            for word_text, word_score, word_box in parts:
                if str(word_text).strip():
                    words.append(PageWord(str(word_text), _box(word_box, width, height), _unit(word_score)))
        elif str(text).strip():
            words.append(PageWord(str(text), _box(box, width, height), _unit(score)))
    return words


def _unit(score: Any) -> float:
    return min(1.0, max(0.0, float(score)))


def _box(points: Any, width: int, height: int) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]

    def clamp(value: float) -> float:
        return min(1.0, max(0.0, value))

    return (clamp(min(xs) / width), clamp(min(ys) / height), clamp(max(xs) / width), clamp(max(ys) / height))
