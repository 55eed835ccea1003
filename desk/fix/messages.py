"""Session-level vocabulary of FIX 4.4: SessionRejectReason codes, the problems that lead to a Reject (3) or a
BusinessMessageReject (j), the MsgTypes FIX 4.4 defines, and the builders of the administrative replies."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import simplefix

from desk.fix import codec
from desk.fix.store import Outgoing

ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})


class RejectReason(enum.IntEnum):
    """SessionRejectReason (373), FIX 4.4."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_WITHOUT_VALUE = 4
    VALUE_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMPID_PROBLEM = 9
    SENDING_TIME_ACCURACY = 10
    INVALID_MSG_TYPE = 11
    XML_VALIDATION_ERROR = 12
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_OUT_OF_ORDER = 14
    REPEATING_GROUP_OUT_OF_ORDER = 15
    INCORRECT_NUM_IN_GROUP = 16
    NON_DATA_VALUE_INCLUDES_DELIMITER = 17
    OTHER = 99


class BusinessRejectReason(enum.IntEnum):
    """BusinessRejectReason (380), FIX 4.4."""

    OTHER = 0
    UNKNOWN_ID = 1
    UNKNOWN_SECURITY = 2
    UNSUPPORTED_MESSAGE_TYPE = 3
    APPLICATION_NOT_AVAILABLE = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
    NOT_AUTHORIZED = 6
    DELIVER_TO_FIRM_NOT_AVAILABLE = 7


# The wording of each SessionRejectReason in the specification: a Reject's Text(58) starts with it.
REASON_TEXTS = {
    RejectReason.INVALID_TAG_NUMBER: "Invalid tag number",
    RejectReason.REQUIRED_TAG_MISSING: "Required tag missing",
    RejectReason.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE: "Tag not defined for this message type",
    RejectReason.UNDEFINED_TAG: "Undefined Tag",
    RejectReason.TAG_WITHOUT_VALUE: "Tag specified without a value",
    RejectReason.VALUE_INCORRECT: "Value is incorrect (out of range) for this tag",
    RejectReason.INCORRECT_DATA_FORMAT: "Incorrect data format for value",
    RejectReason.DECRYPTION_PROBLEM: "Decryption problem",
    RejectReason.SIGNATURE_PROBLEM: "Signature problem",
    RejectReason.COMPID_PROBLEM: "CompID problem",
    RejectReason.SENDING_TIME_ACCURACY: "SendingTime accuracy problem",
    RejectReason.INVALID_MSG_TYPE: "Invalid MsgType",
    RejectReason.XML_VALIDATION_ERROR: "XML Validation error",
    RejectReason.TAG_APPEARS_MORE_THAN_ONCE: "Tag appears more than once",
    RejectReason.TAG_OUT_OF_ORDER: "Tag specified out of required order",
    RejectReason.REPEATING_GROUP_OUT_OF_ORDER: "Repeating group fields out of order",
    RejectReason.INCORRECT_NUM_IN_GROUP: "Incorrect NumInGroup count for repeating group",
    RejectReason.NON_DATA_VALUE_INCLUDES_DELIMITER: "Non Data value includes field delimiter",
    RejectReason.OTHER: "Other",
}


@dataclass(frozen=True)
class Problem:
    """Why a message is rejected at session level: the Reject's SessionRejectReason, RefTagID and Text.

    ``detail`` (default: the tag number) follows the reason's standard wording in the Text, so that an engine
    matching on the standard text and a person reading it are both served.
    """

    reason: RejectReason
    tag: int | None
    detail: str = ""

    @property
    def text(self) -> str:
        detail = self.detail or ("" if self.tag is None else str(self.tag))
        standard = REASON_TEXTS[self.reason]
        return f"{standard}: {detail}" if detail else standard


@dataclass(frozen=True)
class BusinessProblem:
    """Why an application message is refused: BusinessMessageReject (j) reason (380) and Text."""

    reason: int
    ref_id: str
    text: str


class BusinessRefused(Exception):  # noqa: N818 (a refusal the peer is told about, not an error of ours)
    """Raised by an application handler to answer with a BusinessMessageReject (j) carrying ``problem``."""

    def __init__(self, problem: BusinessProblem) -> None:
        super().__init__(problem.text)
        self.problem = problem


# The field naming the business object of an application message: BusinessRejectRefID(379) of a refusal, and the
# key a PossResend(97) duplicate is recognised by.
BUSINESS_ID_TAGS = {"D": 11, "F": 11, "G": 11, "8": 11, "S": 117, "AG": 131, "R": 131, "AJ": 693}


def business_id(message: simplefix.FixMessage) -> str:
    """The business id of an application message (ClOrdID, QuoteID…), or '' for a type without one."""
    tag = BUSINESS_ID_TAGS.get(codec.msg_type(message))
    return "" if tag is None else codec.field(message, tag) or ""


@dataclass(frozen=True)
class ConditionalRule:
    """A field FIX 4.4 requires only when another field of the message has one of some values.

    Its absence is not a session-level problem (the message is well formed) but a BusinessMessageReject with
    BusinessRejectReason 5, "conditionally required field missing".
    """

    msg_type: str
    when_tag: int
    when_values: frozenset[str]
    required: int
    text: str


# The conditions of the FIX 4.4 specification (Volume 4) for the messages either application accepts.
CONDITIONAL_RULES: tuple[ConditionalRule, ...] = (
    ConditionalRule("D", 40, frozenset("D"), 117, "QuoteID(117) is required when OrdType(40)=D (previously quoted)"),
    ConditionalRule("D", 40, frozenset("E"), 23, "IOIID(23) is required when OrdType(40)=E (previously indicated)"),
    ConditionalRule("D", 40, frozenset("24"), 44, "Price(44) is required when OrdType(40) is a limit type"),
    ConditionalRule("D", 40, frozenset("34"), 99, "StopPx(99) is required when OrdType(40) is a stop type"),
    ConditionalRule("8", 150, frozenset("FG"), 32, "LastQty(32) is required when ExecType(150) is F or G (trade)"),
    ConditionalRule("8", 150, frozenset("FG"), 31, "LastPx(31) is required when ExecType(150) is F or G (trade)"),
)


def conditional_problem(
    message: simplefix.FixMessage, rules: Iterable[ConditionalRule] = CONDITIONAL_RULES
) -> BusinessProblem | None:
    """The first conditionally required field the message lacks, as a BusinessMessageReject reason 5, or None."""
    kind = codec.msg_type(message)
    for rule in rules:
        if rule.msg_type != kind or codec.field(message, rule.when_tag) not in rule.when_values:
            continue
        if message.get(rule.required) is None:
            reason = BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING
            return BusinessProblem(int(reason), business_id(message), rule.text)
    return None


# Every MsgType FIX 4.4 defines: an unknown one is Rejected (reason 11), a known but unsupported one gets a
# BusinessMessageReject (reason 3), as the session protocol asks.
_SINGLE = "0123456789ABCDEFGHJKLMNPQRSTVWXYZabcdefghijklmnopqrstuvwxyz"
_DOUBLE = [f"A{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + [f"B{c}" for c in "ABCDEFGH"]
FIX44_MSG_TYPES = frozenset([*_SINGLE, *_DOUBLE])


# OnBehalfOf* (115, 116, 144) of a message come back as DeliverTo* (128, 129, 145) on our answer, and vice versa.
_REVERSE_ROUTE = ((115, 128), (128, 115), (116, 129), (129, 116), (144, 145), (145, 144))


def reverse_route(message: simplefix.FixMessage | None) -> list[tuple[int, str]]:
    """The routing header of an answer to ``message``: its OnBehalfOf/DeliverTo fields swapped (empty ones left
    out), so that a reply through a hub reaches the party that sent the message."""
    if message is None:
        return []
    route = []
    for tag, reversed_tag in _REVERSE_ROUTE:
        value = codec.field(message, tag)
        if value:
            route.append((reversed_tag, value))
    return sorted(route)


def reject(*, ref_seq: int, ref_msg_type: str, problem: Problem, to: simplefix.FixMessage | None = None) -> Outgoing:
    """A session-level Reject (3), routed back the way ``to`` (the rejected message) came."""
    body: list[tuple[int, str]] = [(45, str(ref_seq))]
    if problem.tag is not None:
        body.append((371, str(problem.tag)))
    body += [(372, ref_msg_type), (373, str(int(problem.reason))), (58, problem.text)]
    return Outgoing("3", body, header=reverse_route(to))


def business_reject(
    *, ref_seq: int, ref_msg_type: str, problem: BusinessProblem, to: simplefix.FixMessage | None = None
) -> Outgoing:
    """A BusinessMessageReject (j) for an application message the session accepted but the desk refuses."""
    body: list[tuple[int, str]] = [(45, str(ref_seq)), (372, ref_msg_type)]
    if problem.ref_id:
        body.append((379, problem.ref_id))
    body += [(380, str(problem.reason)), (58, problem.text[:200])]
    return Outgoing("j", body, header=reverse_route(to))


def logout(text: str = "") -> Outgoing:
    return Outgoing("5", [(58, text)] if text else [])
