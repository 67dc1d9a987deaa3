"""Read form responses from a CSV export of the response sheet (File > Download > CSV)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from integrations.ports import SheetSnapshot
from integrations.sheets import FormSourceError

log = logging.getLogger(__name__)


class CsvFormSource:
    """FormSource over a CSV file: the first line is the header, every value is a string."""

    def __init__(
        self, path: str | Path, timezone: str = "Asia/Tokyo", encoding: str = "utf-8-sig"
    ) -> None:
        """Remember where the export lives; the file is read afresh on every fetch."""
        self.path = Path(path)
        self.timezone = timezone  # the sheet's zone: exported timestamps are local text
        self.encoding = encoding

    def fetch(self) -> SheetSnapshot:
        """Read the whole file; trailing blank lines are dropped like Sheets drops empty rows."""
        try:
            text = self.path.read_text(encoding=self.encoding)
        except FileNotFoundError:
            raise FormSourceError(f"form CSV not found: {self.path}") from None
        except UnicodeDecodeError:
            raise FormSourceError(f"form CSV is not valid {self.encoding}: {self.path}") from None
        except OSError as error:
            raise FormSourceError(
                f"form CSV could not be read ({type(error).__name__}): {self.path}"
            ) from None
        try:
            records = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as error:
            raise FormSourceError(f"form CSV is malformed ({error}): {self.path}") from None
        while records and not any(cell.strip() for cell in records[-1]):
            records.pop()
        if not records:
            return SheetSnapshot(header=[], rows=[], timezone=self.timezone)
        log.info("read %s data rows from the form CSV", len(records) - 1)
        return SheetSnapshot(header=records[0], rows=records[1:], timezone=self.timezone)
