"""Session-level vocabulary of FIX 4.4: SessionRejectReason codes, the problems that lead to a Reject (3) or a
BusinessMessageReject (j), the MsgTypes FIX 4.4 defines, and the builders of the administrative replies."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rfq.fix.store import Outgoing

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


@dataclass(frozen=True)
class Problem:
    """Why a message is rejected at session level: the Reject's SessionRejectReason, RefTagID and Text."""

    reason: RejectReason
    tag: int | None
    text: str


@dataclass(frozen=True)
class BusinessProblem:
    """Why an application message is refused: BusinessMessageReject (j) reason (380) and Text."""

    reason: int
    ref_id: str
    text: str


# Every MsgType FIX 4.4 defines: an unknown one is Rejected (reason 11), a known but unsupported one gets a
# BusinessMessageReject (reason 3), as the session protocol asks.
_SINGLE = "0123456789ABCDEFGHJKLMNPQRSTVWXYZabcdefghijklmnopqrstuvwxyz"
_DOUBLE = [f"A{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + [f"B{c}" for c in "ABCDEFGH"]
FIX44_MSG_TYPES = frozenset([*_SINGLE, *_DOUBLE])


def reject(*, ref_seq: int, ref_msg_type: str, problem: Problem) -> Outgoing:
    """A session-level Reject (3)."""
    body: list[tuple[int, str]] = [(45, str(ref_seq))]
    if problem.tag is not None:
        body.append((371, str(problem.tag)))
    body += [(372, ref_msg_type), (373, str(int(problem.reason))), (58, problem.text)]
    return Outgoing("3", body)


def business_reject(*, ref_seq: int, ref_msg_type: str, problem: BusinessProblem) -> Outgoing:
    """A BusinessMessageReject (j) for an application message the session accepted but the desk refuses."""
    body: list[tuple[int, str]] = [(45, str(ref_seq)), (372, ref_msg_type)]
    if problem.ref_id:
        body.append((379, problem.ref_id))
    body += [(380, str(problem.reason)), (58, problem.text[:200])]
    return Outgoing("j", body)


def logout(text: str = "") -> Outgoing:
    return Outgoing("5", [(58, text)] if text else [])
