"""Who writes: the company's name, address and phone, as the signatures and first lines say it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Company"]


@dataclass(frozen=True)
class Company:
    """The sender company (``AUTOREPLY_COMPANY_*``); unset address and phone stay out.

    >>> Company().display("en")
    'Sample Inc.'
    """

    name: str = "サンプル株式会社"
    name_en: str = "Sample Inc."
    address: str | None = None
    phone: str | None = None
    url: str | None = "https://example.com/"

    def display(self, locale: str) -> str:
        """The name in the reader's language (Japanese unless the locale is another one)."""
        return self.name if locale.lower().startswith("ja") else (self.name_en or self.name)
