"""What the page shows of the server's paths: never a whole one.

Every text the page shows a client (reports, statuses, logs, settings, error messages)
goes through :class:`PublicPaths`: a path in one of the page's folders (the work folder,
the motion library, the data root) is shown relative to that folder, and any other
absolute path (Gradio's upload folder, the system's temporary folder, a base model's
folder) by its last part. The server log keeps the whole texts. Files the page serves
(videos, contact sheets, downloads) keep their paths: Gradio serves them from copies.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

LOG = logging.getLogger("lamp_motion.ui")  # the server log: texts with their whole paths
_STOP = r"\s'\"`,;:()\[\]{}<>"  # characters that end a path in a text
_REST = rf"[^{_STOP}]*[^{_STOP}.]"  # a path's remaining parts (a sentence's full stop is not one of them)
_BEFORE = r"(?<![\w.~/-])"  # a path starts a word
_AFTER = rf"(?=$|[{_STOP}]|\.(?:$|[{_STOP}]))"  # and ends one (a full stop may follow)
_ABSOLUTE = re.compile(rf"{_BEFORE}/(?:[^{_STOP}/]+/)+(?P<name>[^{_STOP}/]*[^{_STOP}/.])")


class PublicPaths:
    """Rewrites the paths in texts for the page; ``folders``: the page's folders (None: not set)."""

    def __init__(self, folders: list[Path | None]):
        patterns = []
        for folder in (Path(f) for f in folders if f is not None):
            for spelling in {str(folder), str(folder.absolute()), str(folder.resolve())}:
                bare = "" if spelling.startswith("/") else "/"  # a relative spelling is matched only with a part
                patterns.append((len(spelling), re.compile(
                    rf"{_BEFORE}{re.escape(spelling)}(?:/(?P<rest>{_REST})){'' if bare else '?'}{_AFTER}"),
                    folder.name))
        self._folders = [(pattern, name) for _, pattern, name in sorted(patterns, key=lambda p: -p[0])]

    def text(self, text: str) -> str:
        for pattern, name in self._folders:
            text = pattern.sub(lambda match, name=name: match["rest"] or name, text)
        return _ABSOLUTE.sub(lambda match: match["name"], text)

    def value(self, value: Any) -> Any:
        """``value`` with every text in it rewritten (the settings JSON: dicts, lists, strings)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value

    def shown(self, text: str, level: int = logging.INFO) -> str:
        """``text`` for the page; the whole text goes to the server log."""
        LOG.log(level, text)
        return self.text(text)
