"""Session-level vocabulary of FIX 4.4: moved to :mod:`desk.fix.messages`; the names stay importable from here."""

from desk.fix.messages import ADMIN_TYPES as ADMIN_TYPES
from desk.fix.messages import BUSINESS_ID_TAGS as BUSINESS_ID_TAGS
from desk.fix.messages import CONDITIONAL_RULES as CONDITIONAL_RULES
from desk.fix.messages import FIX44_MSG_TYPES as FIX44_MSG_TYPES
from desk.fix.messages import BusinessProblem as BusinessProblem
from desk.fix.messages import BusinessRefused as BusinessRefused
from desk.fix.messages import BusinessRejectReason as BusinessRejectReason
from desk.fix.messages import ConditionalRule as ConditionalRule
from desk.fix.messages import Problem as Problem
from desk.fix.messages import RejectReason as RejectReason
from desk.fix.messages import business_id as business_id
from desk.fix.messages import business_reject as business_reject
from desk.fix.messages import conditional_problem as conditional_problem
from desk.fix.messages import logout as logout
from desk.fix.messages import reject as reject
