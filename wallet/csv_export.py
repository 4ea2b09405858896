"""CSV files for people: one writer for every export in the project.

It lives in ``wallet`` (the lowest app) so ``backoffice`` and ``refunds`` import it too.

- Text cells are formula-safe (``csv_safe``): a spreadsheet does not run ``=HYPERLINK(…)``
  typed by a customer as a formula (CSV injection).
- Integers stay plain numbers (signed yen can be added up); ``None`` is an empty cell.
- Aware datetimes are written in Japan time (``TIME_ZONE``), ``YYYY-MM-DD HH:MM:SS``.
- ``bom=True`` starts the file with a byte-order mark so Excel opens the Japanese text as UTF-8.
  The staff exports were written without one and scripts read them as they are, so they pass
  ``bom=False``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

CONTENT_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def csv_cell(value: object) -> object:
    """What one cell holds: numbers as numbers, times in Japan time, any other text formula-safe."""
    if isinstance(value, bool):
        return csv_safe(value)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        moment = timezone.localtime(value) if timezone.is_aware(value) else value
        return moment.strftime(TIMESTAMP_FORMAT)
    return csv_safe(value)


class _Echo:
    """A file-like object whose ``write`` returns the line, so ``csv.writer`` yields text instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(*, header: Sequence[object], rows: Iterable[Sequence[object]], bom: bool = True) -> Iterator[str]:
    """The file's text, a line at a time: the header, then each row (read lazily, so a large export streams)."""
    writer = csv.writer(_Echo())
    if bom:
        yield BOM
    yield writer.writerow([csv_cell(value) for value in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def _attachment(response: HttpResponse | StreamingHttpResponse, filename: str) -> None:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'


def csv_streaming_response(
    *, filename: str, header: Sequence[object], rows: Iterable[Sequence[object]], bom: bool = True
) -> StreamingHttpResponse:
    """A download that streams ``rows`` as they are read (no whole file in memory)."""
    response = StreamingHttpResponse(csv_lines(header=header, rows=rows, bom=bom), content_type=CONTENT_TYPE)
    _attachment(response, filename)
    return response


def csv_response(*, filename: str, header: Sequence[object], rows: Iterable[Sequence[object]], bom: bool = True) -> HttpResponse:
    """The same file built in memory, for short lists (a page's worth of rows) whose callers read ``.content``."""
    response = HttpResponse("".join(csv_lines(header=header, rows=rows, bom=bom)), content_type=CONTENT_TYPE)
    _attachment(response, filename)
    return response
