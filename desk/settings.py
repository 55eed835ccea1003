"""The desk's one settings module. Every value comes from the environment (see ``desk/env.py``)."""

import os
import sys
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from desk import env as desk_env

BASE_DIR = Path(__file__).resolve().parent.parent

try:
    ENV = desk_env.load(os.environ, base_dir=str(BASE_DIR))
except desk_env.ConfigError as error:
    # One line naming the variable, no traceback: a deployment with a typo stops here.
    sys.exit(f"desk: configuration error: {error}")

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key
ALLOWED_HOSTS = ENV.allowed_hosts
EMBEDDED = ENV.embedded
REDIS_URL = ENV.redis_url
FIX_PORT = ENV.fix_port
# The audit trail (desk/audit.py): the HMAC key of its hashes and checkpoints, and the append-only file its signed
# checkpoints go to, outside the database. A checkpoint is written once AUDIT_CHECKPOINT_EVENTS events were sealed
# since the last one, or AUDIT_CHECKPOINT_SECONDS after it when any was.
DESK_AUDIT_KEY = ENV.audit_key
DESK_AUDIT_ANCHOR = ENV.audit_anchor
AUDIT_CHECKPOINT_EVENTS = 1000
AUDIT_CHECKPOINT_SECONDS = 10.0

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "channels",
    "axes",
    "csp",
    "desk",
    "rfq",
    "execution",
    "risk",
    "tca",
    "flows",
    "sim",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session lookup: a NUL in a cookie, header, path or query is a 400 here, not a 500 in PostgreSQL.
    "desk.middleware.EdgeGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "desk.middleware.RequestIdMiddleware",
    # Last: turns axes' lockout of a login into the login page saying so (desk.views.login_locked_out).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "desk.urls"
ASGI_APPLICATION = "desk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "desk.pages.status.status_bar_context",
            ],
        },
    },
]

DATABASES = {"default": ENV.database}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode shares one SQLite file between the web server, the worker thread and the FIX gateway:
    # WAL lets readers run beside the writer, and IMMEDIATE takes the write lock at BEGIN so that two
    # read-then-write transactions (the audit chain head) serialize instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Repeated failed logins are throttled (django-axes): after AXES_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for AXES_COOLOFF_TIME (each failure during the lock restarts it); a successful
# login clears the count. Attempts are kept in the database, so every web process sees them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "desk.views.login_locked_out"
LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:blotter"
LOGOUT_REDIRECT_URL = "desk:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic (embedded mode)
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The dealer key scheme comes first so that an anonymous API call answers 401 with its challenge.
        "rfq.api.authentication.DealerKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's parsers behind the edge checks (desk.edge): bounded JSON depth, no NUL or lone surrogate in any text.
    "DEFAULT_PARSER_CLASSES": ["desk.parsers.JSONParser", "desk.parsers.FormParser", "desk.parsers.MultiPartParser"],
    # ?limit= clamped, ?offset= bounded: DRF's LimitOffsetPagination alone hands 2**63 to the database.
    "DEFAULT_PAGINATION_CLASS": "desk.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "The desk API",
    "DESCRIPTION": "Dealer and desk REST API of the RFQ block-trading desk.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Celery: an in-process memory broker in the embedded mode (the worker runs as a thread of rundesk),
# Redis when REDIS_URL is set (separate `celery -A desk worker` processes).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# autodiscover finds only modules named tasks.py
CELERY_IMPORTS = ("execution.hedging_tasks",)
# Desk orders are aggregated every DESK_ORDERS_WINDOW_S seconds (the beat's window), and on demand.
DESK_ORDERS_WINDOW_S = 10.0
CELERY_BEAT_SCHEDULE = {
    "desk-heartbeat": {"task": "desk.tasks.desk_heartbeat", "schedule": 10.0},
    # Fit the implied-volatility surfaces options are marked with to the market's latest quotes (desk.marks).
    "desk-vol-surfaces-refit": {"task": "desk.tasks.vol_surfaces_refit", "schedule": 5.0},
    # Chain the audit events written since the last run, and anchor a signed checkpoint when one is due.
    "audit-seal": {"task": "desk.tasks.audit_seal", "schedule": 2.0},
    # A full walk of the audit chain against the anchor, daily; the pages and commands verify incrementally.
    "audit-verify-full": {"task": "desk.tasks.audit_verify_full", "schedule": 86_400.0},
    # Recovers a running plan whose next tick was lost (a worker killed between ticks).
    "execution-plans-sweep": {"task": "execution.tasks.plans_sweep", "schedule": 5.0},
    # Delta hedge every book holding options (plans owned by settings.EXECUTION_HEDGE_USERNAME, default "trader").
    "execution-delta-hedge": {"task": "execution.hedging_tasks.delta_hedge_all", "schedule": 30.0},
    # TCA: refit the pre-trade impact and dealer terms on the desk's fills (stored fits, the latest is used).
    "tca-calibration-refit": {"task": "tca.tasks.calibration_refit", "schedule": 3600.0},
    "tca-pnl-snapshot": {"task": "tca.tasks.pnl_snapshot", "schedule": 60.0},
    # RFQ engine: expire RFQs past their time (releasing their desk orders), train dealer scoring daily (validated
    # at best: promotion is a risk officer's), and watch the challenger in shadow and the live model's drift.
    "rfq-expire": {"task": "rfq.tasks.rfqs_expire", "schedule": 2.0},
    # Ask again on open RFQs left with no quote to take and nothing more to wait for (rfq.engine.reask).
    "rfq-reask": {"task": "rfq.tasks.rfqs_reask", "schedule": 2.0},
    # Desk orders: every aggregation window, settle the RFQs whose orders nothing works any more, then cross what
    # waits at the validated price and send the rest to RFQs (rfq.engine.desk_orders).
    "desk-orders-aggregate": {"task": "rfq.tasks.desk_orders_aggregate", "schedule": DESK_ORDERS_WINDOW_S},
    "scoring-train": {"task": "rfq.tasks.scoring_train", "schedule": 86_400.0},
    "scoring-monitor": {"task": "rfq.tasks.scoring_monitor", "schedule": 900.0},
    # Risk telemetry of every running plan: alerts and actions (pause, reduce, halt, re-route).
    "risk-telemetry-sweep": {"task": "flows.tasks.telemetry_sweep", "schedule": 5.0},
}

# The cache carries throttle counters and dealer presence: shared through Redis when the desk has several
# processes, in process memory when embedded.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "desk.channel_layer.ThreadSafeInMemoryChannelLayer"}}

# Risk. Telemetry thresholds of running plans (fractions; fill variance in multiples of its history, leakage a
# correlation): alert at or above the first of each pair, act strictly above the second (see risk/telemetry.py).
RISK_TELEMETRY_THRESHOLDS = {
    "slippage_alert": 0.0010,
    "slippage_pause": 0.0025,
    "impact_alert": 0.0005,
    "impact_reduce": 0.0015,
    "participation_alert": 0.15,
    "participation_halt": 0.25,
    "fill_variance_alert": 2.0,
    "fill_variance_review": 3.0,
    "leakage_alert": 0.75,
    "leakage_reroute": 0.90,
}
# No order leaves without a price the market-health monitor validated at most RISK_VALIDATED_PRICE_MAX_AGE_S
# seconds ago (the price collar then centres on it). On in production; in the embedded/debug desk and the tests,
# where no monitor may run, only when DESK_REQUIRE_VALIDATED_PRICE=1 (read here: a risk switch, not in desk/env.py).
RISK_REQUIRE_VALIDATED_PRICE = os.environ.get("DESK_REQUIRE_VALIDATED_PRICE", "0" if DEBUG else "1") == "1"
RISK_VALIDATED_PRICE_MAX_AGE_S = 5.0
# Fat-finger guards (risk/fat_finger.py), on with no limit set; a limit row of the same kind only tightens them.
# max_order_notional: quote currency per order; daily_volume_fraction: an order's size at most this share of its
# underlying's day's volume (desk.market reference data); max_order_quantity: contracts, where that volume is unknown;
# price_collar_bps: a venue order's limit price around the market mid (widened by volatility, as the collar limit).
RISK_FAT_FINGER = {
    "max_order_notional": 50_000_000,
    "daily_volume_fraction": 0.25,
    "max_order_quantity": 1_000_000,
    "price_collar_bps": 500,
}
# The desk's books and strategies, the keys a risk officer may set limits and switches on before a plan or a
# position uses them (those in use are known too): comma-separated names from DESK_BOOKS and DESK_STRATEGIES. A desk
# order may be entered for one of the books (other than the desk's own, where allocations come from) instead of an
# account.
RISK_BOOKS = tuple(name.strip() for name in os.environ.get("DESK_BOOKS", "desk").split(",") if name.strip())
RISK_STRATEGIES = tuple(name.strip() for name in os.environ.get("DESK_STRATEGIES", "").split(",") if name.strip())
# Seconds from the desk's advice to an accept reaching the dealer: every recommended wait ends this long before the
# best live quote expires (rfq.engine.timing.ACCEPT_LATENCY_S explains the default).
RFQ_ACCEPT_LATENCY_S = 1.0
# Re-asks (rfq.engine.reask): at most RFQ_MAX_REASKS per RFQ, only with RFQ_REASK_MIN_LEFT_S seconds left before
# it expires, and once the dealers asked have answered or stayed silent RFQ_REASK_SILENT_S seconds.
RFQ_MAX_REASKS = 3
RFQ_REASK_MIN_LEFT_S = 6.0
RFQ_REASK_SILENT_S = 5.0
# /metrics: a bearer token for the scraper (empty: only logged-in users with risk.view_limit).
DESK_METRICS_TOKEN = os.environ.get("DESK_METRICS_TOKEN", "")

# How child orders reach the venues. "fix" (the default): over FIX 4.4, the desk the initiator of one session per
# venue (execution.fix), venues at DESK_VENUE_FIX ("LIT-A=host:port,LIT-B=host:port,..."; rundesk starts the simulated
# ones and fills it in). Otherwise a dotted path to an in-process venue class (execution.venue.Venue), e.g.
# "sim.venues.SimulatedVenue": the fill is priced and booked in the transaction that sends the child.
DESK_VENUE = os.environ.get("DESK_VENUE", "fix")
DESK_VENUE_FIX = os.environ.get("DESK_VENUE_FIX", "")
# An order sent and not acknowledged, or a cancel not confirmed, for this long (seconds): the venue is asked.
DESK_VENUE_STATUS_TIMEOUT_S = float(os.environ.get("DESK_VENUE_STATUS_TIMEOUT_S", "5"))

# One JSON object per line (desk.metrics.json_formatter, python-json-logger) in production or with DESK_LOG_FORMAT=json.
LOG_FORMAT = os.environ.get("DESK_LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "desk.metrics.json_formatter"},
    },
    "filters": {"client_errors": {"()": "desk.metrics.ClientErrorsWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler on "django" would print every request warning a second time, unformatted.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # axes logs every login at INFO (and its start-up on every command); its lockouts are WARNINGs.
        "axes": {"level": "WARNING"},
    },
}

# Content-Security-Policy (django-csp) on every response: scripts, styles and images from the desk itself only (no
# inline script or style: the pages load static files, bar widths are set through the DOM), websockets to any host
# the page came from (ws: / wss:), no plugins, no framing, forms posting to the desk only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, "ws:", "wss:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
