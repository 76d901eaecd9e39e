"""Frame-sequence patterns as artists type them, and the frames a pattern finds on disk.

Accepted tokens (one per file name, in the base name only):

- ``plate.####.exr`` (Nuke hashes; ``#`` alone means unpadded)
- ``plate.%04d.exr`` / ``plate.%d.exr`` (printf)
- ``plate.$F4.exr`` / ``plate.$F.exr`` (Houdini)
- ``plate.@@@@.exr`` (at signs; ``@`` alone means unpadded)
- ``plate.[1001-1100].exr`` (Resolve; also carries the frame range)
- ``plate.####.exr 1001-1100`` (Nuke's range after the pattern)
- no token at all: a single still.

Padding counts digits without the sign, so frame -5 at padding 4 is ``plate.-0005.exr``; a frame
wider than its padding is written in full (``plate.12345.exr`` at padding 4).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from void_vfx.errors import SequenceError

STYLES = ("hash", "printf", "houdini", "at", "range")
#: The most frames one range may name (a job, a ``[first-last]`` pattern): about 14 minutes at 24
#: fps. Checked before any list of frames is made, so a typo such as 1001-10000000000 costs nothing.
MAX_RANGE_FRAMES = 20000
#: Frame numbers stay within +-this (nine digits).
MAX_FRAME_NUMBER = 999_999_999
#: The widest padding a frame token may ask for: ``%0250000000d`` would make every frame name
#: 250 MB long. Nine digits hold any frame number; 16 leaves room for any real convention.
MAX_PADDING = 16

_TOKEN = re.compile(
    r"(?P<hash>#+)"
    r"|(?P<printf>%(?:0?(?P<pw>\d+))?d)"
    r"|(?P<houdini>\$F(?P<hw>\d*))"
    r"|(?P<at>@+)"
    r"|\[(?P<first>-?\d+)-(?P<last>-?\d+)\]"
)
_TRAILING_RANGE = re.compile(r"^(?P<pat>.*\S)\s+(?P<first>-?\d+)-(?P<last>-?\d+)$")
_FRAME_IN_NAME = re.compile(r"^(?P<prefix>.*?[._-]?)(?P<num>-?\d+)(?P<suffix>\.[^.\d][^.]*)?$")


def compact_ranges(frames: list[int] | set[int]) -> str:
    """Return frames as ``"1003-1007, 1010"``: short enough for an error message."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    start = prev = None
    for f in ordered:
        if start is None:
            start = prev = f
        elif f == prev + 1:
            prev = f
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = f
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def _width(digits: str | None) -> int:
    """A token's padding digits as a number, without converting thousands of digits."""
    if not digits:
        return 1
    return int(digits) if len(digits) <= 9 else 10**9


def _range_padding(*numbers: str) -> int:
    """Padding of a ``[first-last]`` range: a zero-padded number gives it exactly (``0998``);
    otherwise the shorter number bounds it (``[-12-3]`` is unpadded, ``[1001-1100]`` is 4)."""
    digits = [n.lstrip("-") for n in numbers]
    padded = [len(d) for d in digits if len(d) > 1 and d.startswith("0")]
    return max(padded) if padded else min(len(d) for d in digits)


@dataclass(frozen=True)
class Sequence:
    """A parsed pattern: ``directory/prefix<frame>suffix``.

    ``padding`` is the minimum digit count (1 = unpadded); ``style`` is the token style it was typed
    in ("" for a still); ``frame_range`` is an explicit (first, last) when the pattern carried one.
    """

    directory: str
    prefix: str
    suffix: str
    padding: int = 1
    style: str = ""
    frame_range: tuple[int, int] | None = None

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, pattern: str) -> Sequence:
        """Parse any accepted pattern; raise SequenceError when it has more than one frame token."""
        text = str(pattern).strip()
        if not text:
            raise SequenceError("empty sequence pattern: give a path such as plate.####.exr")
        explicit: tuple[int, int] | None = None
        trailing = _TRAILING_RANGE.match(text)
        if trailing and _TOKEN.search(os.path.basename(trailing.group("pat"))):
            text = trailing.group("pat")
            explicit = (int(trailing.group("first")), int(trailing.group("last")))
        directory, name = os.path.split(text)
        matches = list(_TOKEN.finditer(name))
        if not matches:
            return cls(directory, name, "", 1, "", explicit)
        if len(matches) > 1:
            raise SequenceError(
                f"pattern {pattern!r} has {len(matches)} frame tokens; use exactly one, "
                "for example plate.####.exr"
            )
        m = matches[0]
        prefix, suffix = name[: m.start()], name[m.end() :]
        if m.group("hash"):
            style, padding = "hash", len(m.group("hash"))
        elif m.group("printf"):
            style, padding = "printf", _width(m.group("pw"))
        elif m.group("houdini"):
            style, padding = "houdini", _width(m.group("hw"))
        elif m.group("at"):
            style, padding = "at", len(m.group("at"))
        else:
            first_txt, last_txt = m.group("first"), m.group("last")
            style, padding = "range", _range_padding(first_txt, last_txt)
            explicit = (int(first_txt), int(last_txt))
        if padding > MAX_PADDING:
            raise SequenceError(
                f"pattern {pattern[:80]!r}: frame padding of {padding} digits; at most "
                f"{MAX_PADDING} are allowed (write e.g. %04d or ####)"
            )
        if explicit and explicit[0] > explicit[1]:
            raise SequenceError(
                f"pattern {pattern!r}: range {explicit[0]}-{explicit[1]} runs backwards; "
                "write first-last with first <= last"
            )
        return cls(directory, prefix, suffix, max(padding, 1), style, explicit)

    # ----------------------------------------------------------------- printing
    @property
    def is_still(self) -> bool:
        """True when the pattern has no frame token: one image used for every frame."""
        return self.style == ""

    def path(self, frame: int | None = None) -> str:
        """The file for ``frame`` (a still ignores the frame number)."""
        if self.is_still:
            return os.path.join(self.directory, self.prefix)
        if frame is None:
            raise SequenceError(f"{self.format()}: a frame number is needed for a sequence")
        digits = str(abs(int(frame))).zfill(self.padding)
        sign = "-" if frame < 0 else ""
        return os.path.join(self.directory, f"{self.prefix}{sign}{digits}{self.suffix}")

    def format(self, style: str | None = None) -> str:
        """Print the pattern in ``style`` (hash, printf, houdini, at, range); default: as typed."""
        style = style or self.style
        if self.is_still:
            return self.path()
        p = self.padding
        if style == "hash":
            token = "#" * p
        elif style == "printf":
            token = f"%0{p}d" if p > 1 else "%d"
        elif style == "houdini":
            token = f"$F{p}" if p > 1 else "$F"
        elif style == "at":
            token = "@" * p
        elif style == "range":
            rng = self.frame_range or self._scanned_range()
            token = "[{}-{}]".format(*(self._digits(f) for f in rng))
        else:
            raise SequenceError(f"unknown pattern style {style!r}; use one of {', '.join(STYLES)}")
        return os.path.join(self.directory, f"{self.prefix}{token}{self.suffix}")

    def __str__(self) -> str:
        return self.format()

    def _digits(self, frame: int) -> str:
        return ("-" if frame < 0 else "") + str(abs(frame)).zfill(self.padding)

    def _scanned_range(self) -> tuple[int, int]:
        scan = self.scan()
        if not scan.frames:
            raise SequenceError(f"{self.format('hash')}: no frames on disk to print a range from")
        return scan.frames[0], scan.frames[-1]

    # ------------------------------------------------------------------ on disk
    def scan(self) -> SequenceScan:
        """List the frames on disk that this pattern names, noting duplicates and padding."""
        folder = self.directory or "."
        if self.is_still:
            found = os.path.isfile(self.path())
            return SequenceScan(self, [1] if found else [], {1: self.path()} if found else {})
        try:
            names = os.listdir(folder)
        except OSError as exc:
            raise SequenceError(f"{self.format()}: cannot list folder {folder!r}: {exc}") from exc
        number = re.compile(
            re.escape(self.prefix) + r"(?P<num>-?\d+)" + re.escape(self.suffix) + r"\Z"
        )
        by_frame: dict[int, list[str]] = {}
        widths: dict[str, int] = {}
        for name in names:
            m = number.match(name)
            if not m:
                continue
            digits = m.group("num").lstrip("-")
            path = os.path.join(self.directory, name)
            by_frame.setdefault(int(m.group("num")), []).append(path)
            widths[path] = len(digits)
        files: dict[int, str] = {}
        duplicates: dict[int, list[str]] = {}
        off_padding: list[str] = []
        for frame, paths in by_frame.items():
            expected = self.path(frame)
            files[frame] = expected if expected in paths else sorted(paths)[0]
            if len(paths) > 1:
                duplicates[frame] = sorted(paths)
            off_padding.extend(p for p in paths if p != expected)
        return SequenceScan(
            self,
            sorted(files),
            files,
            duplicates=duplicates,
            off_padding=sorted(off_padding),
            paddings=sorted(set(widths.values())),
        )

    def frames(self, required_range: tuple[int, int] | None = None) -> list[int]:
        """Frames to process, checked on disk: every frame present, none ambiguous.

        The range is ``required_range``, else the pattern's own range, else first..last on disk.
        A still counts as one frame (1), or is held over the whole required range.
        """
        rng = required_range or self.frame_range
        if rng is not None:
            check_range(self.format() if not self.is_still else self.path(), rng)
        scan = self.scan()
        if self.is_still:
            if not scan.frames:
                raise SequenceError(f"{self.path()}: file not found")
            return list(range(rng[0], rng[1] + 1)) if rng else [1]
        if not scan.frames:
            raise SequenceError(
                f"{self.format()}: no frames found in {self.directory or '.'!r}; "
                "check the folder, the name and the padding"
            )
        held = f"{_short(compact_ranges(scan.frames))} ({len(scan.frames)} frames)"
        if rng is None:
            check_range(self.format(), (scan.frames[0], scan.frames[-1]), f"; on disk: {held}")
        first, last = rng or (scan.frames[0], scan.frames[-1])
        if last < scan.frames[0] or first > scan.frames[-1]:
            raise SequenceError(
                f"{self.format()}: none of frames {first}-{last} is on disk; the plate holds "
                f"{held}: choose a range within {scan.frames[0]}-{scan.frames[-1]} (--range)"
            )
        wanted = range(first, last + 1)
        missing = [f for f in wanted if f not in scan.files]
        if missing:
            raise SequenceError(
                f"{self.format()}: missing frames {_short(compact_ranges(missing))} "
                f"(of {first}-{last}), first missing file {self.path(missing[0])}; the plate "
                f"holds {held}: render or copy them, or choose a range within what is there"
            )
        dups = {f: p for f, p in scan.duplicates.items() if first <= f <= last}
        if dups:
            f, paths = next(iter(sorted(dups.items())))
            raise SequenceError(
                f"{self.format()}: frames {compact_ranges(dups)} exist more than once with "
                f"different padding (frame {f}: {', '.join(paths)}); remove the extra files"
            )
        # A frame found only under another padding would be read from self.path(f), which
        # does not exist: say so now rather than failing on that frame mid-job.
        stray = [f for f in wanted if scan.files[f] != self.path(f)]
        if stray:
            f = stray[0]
            raise SequenceError(
                f"{self.format()}: frames {compact_ranges(stray)} are stored with other zero "
                f"padding (frame {f} is {scan.files[f]}, the pattern names {self.path(f)}); "
                "rename them to one padding or type the pattern with theirs"
            )
        return list(wanted)


def _short(text: str, limit: int = 160) -> str:
    """A list of ranges cut for a message."""
    return text if len(text) <= limit else text[: text.rfind(",", 0, limit)] + ", ..."


def check_range(what: str, rng: tuple[int, int], extra: str = "") -> None:
    """Refuse a backwards range, frame numbers past +-MAX_FRAME_NUMBER, or more than
    MAX_RANGE_FRAMES frames, before anything the size of the range is made."""
    first, last = rng
    if type(first) is not int or type(last) is not int:
        raise SequenceError(f"{what}: frame range {rng!r} must be two whole numbers")
    if first > last:
        raise SequenceError(f"{what}: frame range {first}-{last} runs backwards")
    if max(abs(first), abs(last)) > MAX_FRAME_NUMBER:
        raise SequenceError(
            f"{what}: frame range {first}-{last}: frame numbers must be within "
            f"+-{MAX_FRAME_NUMBER}{extra}"
        )
    if last - first + 1 > MAX_RANGE_FRAMES:
        raise SequenceError(
            f"{what}: frame range {first}-{last} is {last - first + 1} frames; one range takes at "
            f"most {MAX_RANGE_FRAMES}{extra}: split it into several jobs"
        )


@dataclass
class SequenceScan:
    """What a pattern found on disk.

    ``files`` maps each frame to the file used for it (the one with the pattern's padding when
    several exist); ``duplicates`` lists frames present under more than one padding;
    ``off_padding`` lists files whose digit count differs from what the pattern would print;
    ``paddings`` is the set of digit widths seen (more than one = mixed padding).
    """

    sequence: Sequence
    frames: list[int]
    files: dict[int, str]
    duplicates: dict[int, list[str]] = field(default_factory=dict)
    off_padding: list[str] = field(default_factory=list)
    paddings: list[int] = field(default_factory=list)

    @property
    def first(self) -> int | None:
        return self.frames[0] if self.frames else None

    @property
    def last(self) -> int | None:
        return self.frames[-1] if self.frames else None

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """Missing (first, last) runs between the first and last frame found."""
        runs: list[tuple[int, int]] = []
        for a, b in zip(self.frames, self.frames[1:]):
            if b > a + 1:
                runs.append((a + 1, b - 1))
        return runs

    @property
    def missing(self) -> list[int]:
        return [f for a, b in self.gaps for f in range(a, b + 1)]

    @property
    def mixed_padding(self) -> bool:
        """True when files of this sequence were written with different zero padding."""
        return bool(self.off_padding)

    def describe(self) -> str:
        """One line for a log: range, count, gaps, duplicates, padding."""
        seq = self.sequence.format()
        if not self.frames:
            return f"{seq}: no frames found"
        text = f"{seq}: {len(self.frames)} frames {compact_ranges(self.frames)}"
        if self.gaps:
            text += f"; missing {compact_ranges(self.missing)}"
        if self.duplicates:
            text += f"; duplicated {compact_ranges(self.duplicates)}"
        if self.mixed_padding:
            text += f"; mixed padding ({', '.join(os.path.basename(p) for p in self.off_padding)})"
        return text


def find_sequence(path_or_pattern: str) -> Sequence:
    """Sequence for a pattern, or for one concrete frame file such as ``plate.1001.exr``.

    A concrete file's last number before the extension becomes the frame token, with its digit
    count as padding. A name with no number, or a pattern without a token, is a still.
    """
    text = str(path_or_pattern)
    seq = Sequence.parse(text)
    if not seq.is_still or seq.frame_range is not None:
        return seq
    directory, name = os.path.split(text)
    m = _FRAME_IN_NAME.match(name)
    if not m or not m.group("prefix") and not m.group("suffix"):
        return seq
    digits = m.group("num").lstrip("-")
    prefix = m.group("prefix")
    # "shot-1001.exr": a dash right after a separator-less prefix is a separator, not a sign.
    if m.group("num").startswith("-") and prefix and prefix[-1].isalnum():
        prefix += "-"
    return Sequence(directory, prefix, m.group("suffix") or "", len(digits), "hash", None)
