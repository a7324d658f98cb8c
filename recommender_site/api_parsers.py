"""The API's JSON parser: DRF's, plus a refusal of absurdly nested documents.

Python's json module decodes nested arrays and objects recursively, so a small body such as
``[[[[...]]]]`` (100k levels, 200 kB) raises RecursionError, which DRF's parser does not catch (it
only turns ValueError into a 400): the client got a 500. Here it is the 400 ``parse_error`` it is.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
