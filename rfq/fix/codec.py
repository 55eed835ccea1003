"""FIX 4.4 wire format: moved to :mod:`desk.fix.codec` (the venues' initiator in execution uses it too); the names
stay importable from here."""

from desk.fix.codec import BEGIN_STRING as BEGIN_STRING
from desk.fix.codec import HEADER_TAGS as HEADER_TAGS
from desk.fix.codec import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES
from desk.fix.codec import SOH as SOH
from desk.fix.codec import TRAILER_TAGS as TRAILER_TAGS
from desk.fix.codec import FrameReader as FrameReader
from desk.fix.codec import Garbled as Garbled
from desk.fix.codec import GarbledMessage as GarbledMessage
from desk.fix.codec import body_fields as body_fields
from desk.fix.codec import checksum as checksum
from desk.fix.codec import decode as decode
from desk.fix.codec import encode as encode
from desk.fix.codec import field as field
from desk.fix.codec import format_decimal as format_decimal
from desk.fix.codec import format_utc_timestamp as format_utc_timestamp
from desk.fix.codec import header_order_problem as header_order_problem
from desk.fix.codec import msg_type as msg_type
from desk.fix.codec import parse_decimal as parse_decimal
from desk.fix.codec import parse_utc_timestamp as parse_utc_timestamp
from desk.fix.codec import readable as readable
from desk.fix.codec import repeated_tag as repeated_tag
from desk.fix.codec import tags as tags
