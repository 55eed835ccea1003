"""Conformance mode of the gateway: the FIX 4.4 data dictionary, and an application that echoes what it validates.

``python manage.py fixgateway --conformance OURS:THEIRS`` runs the session layer alone for one peer, as reference
engines do in their acceptance runs: every NewOrderSingle (D) and SecurityDefinition (d), the types QuickFIX's
acceptance application echoes, that passes validation against ``FIX44.xml`` (the dictionary the ``quickfix``
package installs) is sent back to its sender; other application types get a BusinessMessageReject reason 3
(unsupported message type). Validation follows the session
protocol's SessionRejectReason codes: a tag not in the dictionary (0), a required tag missing (1), a tag not
defined for the message type (2), a wrong enumeration value (5), a wrong data format (6), a repeated tag (13), a
repeating group with the wrong count (16) or whose entries do not start with the group's first field (15). A
message that passes but lacks a field the specification requires in its case (QuoteID on a previously quoted
NewOrderSingle…, see :data:`rfq.fix.messages.CONDITIONAL_RULES`) gets a BusinessMessageReject reason 5 instead of
its echo; one with PossResend(97)=Y whose business id (ClOrdID, QuoteID…) this session already received is not
echoed again.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import simplefix

from rfq.fix import codec, store
from rfq.fix.messages import (
    BUSINESS_ID_TAGS,
    Problem,
    RejectReason,
    business_id,
    business_reject,
    conditional_problem,
)
from rfq.fix.store import Outgoing

if TYPE_CHECKING:
    from rfq.fix.session import Session


def default_dictionary_path() -> Path:
    """Where the quickfix package installs FIX44.xml (``<prefix>/share/quickfix``)."""
    for prefix in (sys.prefix, sys.base_prefix):
        path = Path(prefix) / "share" / "quickfix" / "FIX44.xml"
        if path.exists():
            return path
    raise FileNotFoundError("FIX44.xml not found: install the quickfix package (requirements-dev.txt)")


@dataclass
class FieldDef:
    number: int
    name: str
    type: str
    values: frozenset[str] = frozenset()


@dataclass
class Layout:
    """The fields of a message or of one repeating-group entry, in order, with the nested groups by count tag."""

    order: list[int] = field(default_factory=list)
    required: set[int] = field(default_factory=set)
    groups: dict[int, Layout] = field(default_factory=dict)

    @property
    def delimiter(self) -> int:
        return self.order[0]

    def all_tags(self) -> set[int]:
        return set(self.order)


_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,9})?")
_MONTH_YEAR = re.compile(r"\d{6}(\d{2}|-?w[1-5])?")
_FLOAT_TYPES = {"FLOAT", "PRICE", "QTY", "AMT", "PRICEOFFSET", "PERCENTAGE"}
_INT_TYPES = {"INT", "LENGTH", "NUMINGROUP", "SEQNUM", "DAYOFMONTH"}


def value_well_formed(kind: str, value: str) -> bool:
    """Whether ``value`` is a well-formed FIX 4.4 value of type ``kind``."""
    if kind in _INT_TYPES:
        return bool(_INT.fullmatch(value))
    if kind in _FLOAT_TYPES:
        return bool(_FLOAT.fullmatch(value))
    if kind == "CHAR":
        return len(value) == 1
    if kind == "BOOLEAN":
        return value in ("Y", "N")
    if kind == "UTCTIMESTAMP":
        try:
            codec.parse_utc_timestamp(value)
        except ValueError:
            return False
        return True
    if kind in ("UTCDATEONLY", "LOCALMKTDATE", "UTCDATE"):
        return bool(_DATE.fullmatch(value))
    if kind == "UTCTIMEONLY":
        return bool(_TIME.fullmatch(value))
    if kind == "MONTHYEAR":
        return bool(_MONTH_YEAR.fullmatch(value))
    return True


class DataDictionary:
    """The parts of a QuickFIX-format data dictionary (FIX44.xml) that validation needs."""

    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()  # noqa: S314 - a trusted file installed with the quickfix package
        self.fields_by_name: dict[str, FieldDef] = {}
        self.fields: dict[int, FieldDef] = {}
        for node in root.find("fields") or []:
            definition = FieldDef(
                number=int(node.get("number", "0")),
                name=node.get("name", ""),
                type=node.get("type", "STRING"),
                values=frozenset(value.get("enum", "") for value in node.findall("value")),
            )
            self.fields_by_name[definition.name] = definition
            self.fields[definition.number] = definition
        self._components = {node.get("name", ""): node for node in root.find("components") or []}
        self.header = self._layout(root.find("header"))
        self.trailer = self._layout(root.find("trailer"))
        self.messages: dict[str, Layout] = {}
        self.app_types: set[str] = set()
        for node in root.find("messages") or []:
            kind = node.get("msgtype", "")
            self.messages[kind] = self._layout(node)
            if node.get("msgcat") == "app":
                self.app_types.add(kind)

    def _layout(self, node: ET.Element | None, layout: Layout | None = None, required: bool = True) -> Layout:
        layout = layout or Layout()
        for child in node if node is not None else []:
            child_required = required and child.get("required") == "Y"
            if child.tag == "field":
                number = self.fields_by_name[child.get("name", "")].number
                layout.order.append(number)
                if child_required:
                    layout.required.add(number)
            elif child.tag == "component":
                self._layout(self._components[child.get("name", "")], layout, child_required)
            elif child.tag == "group":
                number = self.fields_by_name[child.get("name", "")].number
                layout.order.append(number)
                if child_required:
                    layout.required.add(number)
                layout.groups[number] = self._layout(child, Layout(), True)
        return layout

    def validate(self, message: simplefix.FixMessage) -> Problem | None:
        """The first problem with a message's fields against the dictionary, or None."""
        kind = codec.msg_type(message)
        body_layout = self.messages.get(kind)
        if body_layout is None:
            return Problem(RejectReason.INVALID_MSG_TYPE, 35, kind)
        pairs = [(int(tag), value.decode("latin-1")) for tag, value in message.pairs]
        for tag, value in pairs:
            definition = self.fields.get(tag)
            if definition is None:
                return Problem(RejectReason.INVALID_TAG_NUMBER, tag)
            if not value:
                return Problem(RejectReason.TAG_WITHOUT_VALUE, tag)
            if not value_well_formed(definition.type, value):
                return Problem(RejectReason.INCORRECT_DATA_FORMAT, tag)
            if definition.values and not self._enum_ok(definition, value):
                return Problem(RejectReason.VALUE_INCORRECT, tag)
        header_tags = self.header.all_tags() | set(self.header.groups)
        trailer_tags = self.trailer.all_tags()
        body = [(tag, value) for tag, value in pairs if tag not in header_tags and tag not in trailer_tags]
        for section, tags_present in ((self.header, {t for t, _ in pairs}), (self.trailer, {t for t, _ in pairs})):
            for tag in sorted(section.required - tags_present):
                return Problem(RejectReason.REQUIRED_TAG_MISSING, tag)
        return self._walk(body_layout, iter(body), top=True)

    def _enum_ok(self, definition: FieldDef, value: str) -> bool:
        if definition.type in ("MULTIPLEVALUESTRING", "MULTIPLECHARVALUE"):
            return all(part in definition.values for part in value.split(" "))
        return value in definition.values

    def _walk(self, layout: Layout, pairs: Iterator[tuple[int, str]], *, top: bool) -> Problem | None:
        """Check the fields of one level; group entries are checked recursively. ``pairs`` is consumed."""
        items = list(pairs)
        problem, _ = self._walk_level(layout, items, 0, top=top)
        return problem

    def _walk_level(
        self, layout: Layout, items: Sequence[tuple[int, str]], index: int, *, top: bool
    ) -> tuple[Problem | None, int]:
        seen: set[int] = set()
        allowed = layout.all_tags()
        while index < len(items):
            tag, value = items[index]
            if tag not in allowed:
                if top:
                    return Problem(RejectReason.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag), index
                break
            if tag in seen:
                if top:
                    return Problem(RejectReason.TAG_APPEARS_MORE_THAN_ONCE, tag), index
                break
            seen.add(tag)
            index += 1
            group = layout.groups.get(tag)
            if group is None:
                continue
            expected = int(value)
            entries = 0
            while index < len(items) and items[index][0] in group.all_tags():
                if items[index][0] != group.delimiter:
                    return Problem(RejectReason.REPEATING_GROUP_OUT_OF_ORDER, items[index][0]), index
                entries += 1
                problem, index = self._walk_level(group, items, index, top=False)
                if problem is not None:
                    return problem, index
                if entries > expected:
                    break
            if entries != expected:
                return Problem(RejectReason.INCORRECT_NUM_IN_GROUP, tag), index
        missing = sorted(layout.required - seen)
        if missing:
            return Problem(RejectReason.REQUIRED_TAG_MISSING, missing[0]), index
        return None, index


# What QuickFIX's acceptance application (src/at_application.h) echoes: every other application message type is
# refused with a BusinessMessageReject "Unsupported Message Type", which its scripts expect.
ECHOED_TYPES = frozenset({"D", "d"})


class EchoApplication:
    """Conformance mode: validate each NewOrderSingle (D) and SecurityDefinition (d) against FIX44.xml and send it
    back unchanged, PossResend(97) included; other application messages are unsupported."""

    def __init__(self, *, dictionary_path: Path | None = None, echoed: frozenset[str] = ECHOED_TYPES) -> None:
        self.dictionary = DataDictionary(dictionary_path or default_dictionary_path())
        self.supported = frozenset(echoed & self.dictionary.app_types)

    def check(self, message: simplefix.FixMessage) -> Problem | None:
        return self.dictionary.validate(message)

    def check_admin(self, message: simplefix.FixMessage) -> Problem | None:
        return self.dictionary.validate(message)

    def handle(self, *, session: Session, message: simplefix.FixMessage, seq: int) -> Sequence[Outgoing]:
        kind = codec.msg_type(message)
        ref_id = business_id(message)
        # Runs before this message is stored: a match is an earlier message with the same business id.
        if (
            codec.field(message, 97) == "Y"
            and session.record is not None
            and ref_id
            and store.inbound_exists(
                session_pk=session.record.pk, msg_type=kind, tag=BUSINESS_ID_TAGS[kind], value=ref_id
            )
        ):
            return []
        problem = conditional_problem(message)
        if problem is not None:
            return [business_reject(ref_seq=seq, ref_msg_type=kind, problem=problem)]
        # PossResend stays on the echo, as on QuickFIX's: the peer learns the order reached the application flagged.
        header = [(97, "Y")] if codec.field(message, 97) == "Y" else []
        return [Outgoing(kind, codec.body_fields(message), header=header)]

    async def on_logon(self, session: Session) -> None:
        return None

    async def on_disconnect(self, session: Session) -> None:
        return None
