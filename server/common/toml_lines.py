"""Key paths in TOML: where each key is written (path -> 1-based line), and the dotted form messages use.

tomllib gives values, not positions, so this small scanner walks the (already valid) text
once: table headers, arrays of tables (counted, so ``[[triage.rules]]`` number two is index 1),
dotted keys, inline tables and array elements. Strings and comments are skipped properly, so a
``[`` or ``=`` inside a pattern cannot confuse it.
"""

from __future__ import annotations

KeyPath = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.aot_counts: dict[KeyPath, int] = {}

    # ---- characters ---------------------------------------------------------------------

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos < len(self.text):
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t"):
            self.advance()

    def skip_blank(self) -> None:
        """Spaces, newlines and comments (inside arrays)."""
        while True:
            char = self.peek()
            if char in (" ", "\t", "\r", "\n"):
                self.advance()
            elif char == "#":
                self.skip_line()
            else:
                return

    def skip_line(self) -> None:
        while self.peek() not in ("\n", ""):
            self.advance()

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # ---- keys and strings ---------------------------------------------------------------

    def read_string(self) -> str:
        quote = self.peek()
        if self.text.startswith(quote * 3, self.pos):
            self.advance(3)
            start = self.pos
            while self.pos < len(self.text) and not self.text.startswith(quote * 3, self.pos):
                if quote == '"' and self.peek() == "\\":
                    self.advance()
                self.advance()
            value = self.text[start : self.pos]
            self.advance(3)
            while self.peek() == quote:  # up to two quotes may end the content
                self.advance()
            return value
        self.advance()
        out: list[str] = []
        while self.peek() not in (quote, "\n", ""):
            if quote == '"' and self.peek() == "\\":
                out.append(self.peek(1))
                self.advance(2)
                continue
            out.append(self.peek())
            self.advance()
        self.advance()
        return "".join(out)

    def read_key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_spaces()
            char = self.peek()
            if char in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.pos
                while self.peek() in _BARE and self.peek() != "":
                    self.advance()
                parts.append(self.text[start : self.pos])
            self.skip_spaces()
            if self.peek() == ".":
                self.advance()
                continue
            return parts

    # ---- values -------------------------------------------------------------------------

    def read_value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.read_string()
        elif char == "[":
            self.advance()
            index = 0
            while True:
                self.skip_blank()
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                self.record((*path, index), self.line)
                self.read_value((*path, index))
                index += 1
                self.skip_blank()
                if self.peek() == ",":
                    self.advance()
        elif char == "{":
            self.advance()
            while True:
                self.skip_spaces()
                if self.peek() in ("}", ""):
                    self.advance()
                    return
                line = self.line
                key = self.read_key()
                full = (*path, *key)
                self.record(full, line)
                self.skip_spaces()
                if self.peek() == "=":
                    self.advance()
                self.skip_spaces()
                self.read_value(full)
                self.skip_spaces()
                if self.peek() == ",":
                    self.advance()
        else:
            while self.peek() not in (",", "]", "}", "\n", "#", ""):
                self.advance()

    # ---- statements ---------------------------------------------------------------------

    def resolve(self, parts: list[str]) -> KeyPath:
        """A header's parts with the current index of every array of tables along the way."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            count = self.aot_counts.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def header(self) -> KeyPath:
        line = self.line
        double = self.text.startswith("[[", self.pos)
        self.advance(2 if double else 1)
        parts = self.read_key()
        self.advance(2 if double else 1)
        if double:
            parent = self.resolve(parts[:-1])
            table = (*parent, parts[-1])
            index = self.aot_counts.get(table, 0)
            self.aot_counts[table] = index + 1
            self.record(table, line)
            prefix: KeyPath = (*table, index)
        else:
            prefix = self.resolve(parts)
        self.record(prefix, line)
        self.skip_line()
        return prefix

    def run(self) -> dict[KeyPath, int]:
        prefix: KeyPath = ()
        while self.pos < len(self.text):
            self.skip_blank()
            char = self.peek()
            if char == "":
                break
            if char == "[":
                prefix = self.header()
                continue
            line = self.line
            key = self.read_key()
            if not key or key == [""]:
                self.skip_line()
                continue
            full = (*prefix, *key)
            for depth in range(len(prefix) + 1, len(full) + 1):
                self.record(full[:depth], line)
            self.skip_spaces()
            if self.peek() == "=":
                self.advance()
                self.skip_spaces()
                self.read_value(full)
            self.skip_line()
        return self.lines


def key_lines(text: str) -> dict[KeyPath, int]:
    """Every key path written in ``text`` with the line it starts on."""
    try:
        return _Scanner(text).run()
    except (IndexError, ValueError):  # malformed text: positions are a nicety, never a crash
        return {}


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest written ancestor (a default has no line of its own)."""
    for depth in range(len(path), 0, -1):
        found = lines.get(path[:depth])
        if found is not None:
            return found
    return None


def dotted(path: KeyPath) -> str:
    """``("routing", "rules", 2, "cel")`` -> ``routing.rules[2].cel``, the form error messages use."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
