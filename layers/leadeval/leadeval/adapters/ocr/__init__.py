"""OCR engines (:class:`leadeval.ports.PageReader`): rapidocr (:mod:`.rapid`), an optional dependency
(the ``ocr`` extra)."""
