"""PDF link annotations (``/URI`` actions) with pypdf. ``line`` is the page number.

pypdf parses untrusted input; anything it raises becomes a warning on the document.
"""

from __future__ import annotations

import io
import logging
import warnings

from linkwatch.extract.collect import Collector

MAX_PAGES = 2000


def extract_pdf(c: Collector, data: bytes) -> None:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                c.warn("encrypted PDF; links not read", line=1)
                return
            for number, page in enumerate(reader.pages, start=1):
                if number > MAX_PAGES:
                    c.warn(f"more than {MAX_PAGES} pages; the rest were ignored", line=number)
                    return
                _page_links(c, page, number)
                if c.full:
                    return
        except Exception as exc:  # noqa: BLE001 - untrusted input to a third-party parser
            c.warn(f"PDF could not be read: {type(exc).__name__}: {str(exc)[:200]}", line=1)


def _page_links(c: Collector, page: object, number: int) -> None:
    annots = page.get("/Annots")  # type: ignore[attr-defined]
    if annots is None:
        return
    for ref in annots.get_object():
        annot = ref.get_object()
        if annot.get("/Subtype") != "/Link":
            continue
        action = annot.get("/A")
        action = action.get_object() if action is not None else None
        if action is None or action.get("/S") != "/URI":
            continue
        uri = action.get("/URI")
        if isinstance(uri, bytes):
            uri = uri.decode("latin-1")
        if uri is not None:
            c.add(str(uri), 0, "pdf:link", line=number)
