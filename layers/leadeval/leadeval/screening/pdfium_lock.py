"""The one lock every PDFium call of this process goes through.

PDFium is not thread-safe, "not even with different documents" (pypdfium2 Python API, "Incompatibility with
Threading"), and the worker prepares a job's documents on a thread pool: whoever opens, reads, renders or closes
a PDFium document holds :data:`PDFIUM_LOCK` from open to close.
"""

from __future__ import annotations

import threading

PDFIUM_LOCK = threading.Lock()
