"""Fakes shaped like connections.outbound's error and response, for the pure
protocol tests (the real client is tested against real servers elsewhere)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class FakeOutboundError(Exception):
    """Shaped like connections.outbound.OutboundError."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class FakeResponse:
    status: int
    content: bytes
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            raise FakeOutboundError("bad_json", "The answer is not JSON.") from None
