"""Consent (decisioning-core.md sections 2.27 and 3.2 step 5): purpose consent must be granted.

**Which purposes a candidate needs.** Every offer is a marketing offer, so ``marketing`` always
applies (mandatory offers included, see below). The delivery channel adds its own purpose, from
the channel's ``channelType``: ``email`` -> email, ``sms`` -> sms, ``push`` -> push, and
``phone``/``voice``/``call`` -> phone. Every other channel type (``web``, ``in_app``,
``webhook``, ``whatsapp``, ``direct_mail``, ...) needs marketing only; a tenant can map more types
with the setting ``consent.channelPurposes`` (e.g. ``{"whatsapp": "sms"}``; a value of ``null``
or ``"marketing"`` means marketing only). An offer can require further purposes through
``metadata.consentPurposes`` (e.g. ``["third_party"]`` for a partner offer). The channel is the
chosen creative's channel, else the request's channel; with neither only marketing applies.

**How a purpose resolves** (first answer wins):

1. the customer's ``ConsentRecord`` for that purpose (``subject_id`` = customer id, this tenant
   only): ``granted`` allows; ``revoked``, ``pending`` and any other status block. Stored purposes
   are compared case-insensitively and ``thirdParty``/``third-party`` mean ``third_party``; should
   two spellings of one purpose both exist, the more restrictive status wins. ``status`` is
   authoritative (``grantedAt``/``revokedAt`` are history, not read here);
2. unless the tenant turned it off (``settings.consent.attributeFallback = false``), the
   customer attribute ``consent_<purpose>`` (``consent_thirdParty`` also for third_party) from
   the merged profile: request ``attributes`` over the auto-enrich schema rows. Booleans,
   ``1``/``0`` and the strings true/false, yes/no, y/n, granted/revoked, opt_in/opt_out (also
   opted_in/opted_out, opt-in/opt-out), subscribed/unsubscribed, on/off are read
   case-insensitively; ``pending`` blocks like a pending record; a null or empty value is no
   information; any other value blocks (**inferred**: a value that cannot be read as a grant is
   not a grant);
3. no record and no attribute: the purpose is **allowed** (**inferred default**: no information
   means the customer never opted out, as for a tenant that keeps no consent data at all).

**Where it runs.** First thing in the ``contact_policy`` node, i.e. after qualification and
before contact policies (section 3.2). A flow that has no ``contact_policy`` node still gets the
check: the engine applies it before the first score/rank/output node (or after the last node),
recorded as a stage of type ``consent``. It runs once per decision.

**Mandatory offers** bypass qualification and most contact policies (section 3.11), but consent
is a legal block, not a business rule: a revoked or pending purpose blocks a mandatory offer too.

**Alternatives.** When a candidate's other creatives sit on channels whose purpose is blocked,
they are removed from its alternatives, so a later node (group allocation) cannot switch it onto
such a channel; if its chosen creative is blocked but a consented one remains, that one is chosen
instead (the weighted pick among the remaining ones) and the candidate stays.

**Trace.** A blocked candidate is dropped with ``stage = "consent"``, ``ruleType = "consent"``
and a reason naming the purpose, the status and where it came from, e.g. ``consent for purpose
'email' is revoked (consent record cns_..., source api)`` or ``consent for purpose 'email' is
revoked (customer attribute consent_email = false)``; ``detail`` holds ``purpose``, ``status``,
``source`` (record|attribute) and ``recordId``/``recordSource`` or ``attribute``/``value``.
The funnel gains ``afterConsent`` (between ``afterQualification`` and ``afterContactPolicy``).
A candidate kept on another creative carries ``properties.consentRerouted``.

**Cost.** The catalogue carries a per-tenant ``has_consent_records`` fact from its fingerprint
query (no extra round trip); a tenant without records reads none. Otherwise one query on the
``(tenant_id, subject_id, purpose)`` unique index per decision reads this customer's records (the
placements of one request share it). Only a flow that runs consent before any ``enrich`` node
reads the customer's profile rows once more, for the attribute fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from kaireon_mcp.core.decisioning.profile import load_schema_attributes
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState
from kaireon_mcp.storage.tables import ConsentRecord

if TYPE_CHECKING:
    from kaireon_mcp.core.decisioning.engine import Engine

PURPOSES: tuple[str, ...] = ("marketing", "email", "sms", "push", "phone", "third_party")
#: channel type -> the purpose it needs besides marketing (other types need marketing only)
CHANNEL_PURPOSES: dict[str, str] = {
    "email": "email",
    "sms": "sms",
    "push": "push",
    "phone": "phone",
    "voice": "phone",
    "call": "phone",
}
STAGE = "consent"
#: record statuses, most restrictive first (used to merge two spellings of one purpose)
_RESTRICTIVENESS = {"revoked": 0, "pending": 1, "granted": 3}

_GRANTED = frozenset(
    {"true", "yes", "y", "1", "granted", "grant", "opt_in", "opted_in", "opt-in", "opted-in", "optin",
     "subscribed", "on", "allow", "allowed"}
)  # fmt: skip
_REVOKED = frozenset(
    {"false", "no", "n", "0", "revoked", "revoke", "denied", "opt_out", "opted_out", "opt-out",
     "opted-out", "optout", "unsubscribed", "off", "withdrawn"}
)  # fmt: skip

_RECORDS = select(ConsentRecord.id, ConsentRecord.purpose, ConsentRecord.status, ConsentRecord.source).where(
    ConsentRecord.tenant_id == bindparam("tenant"), ConsentRecord.subject_id == bindparam("customer")
)


def normalize_purpose(value: Any) -> str | None:
    """``Email`` -> ``email``, ``thirdParty``/``third-party`` -> ``third_party``; None if unknown."""
    text = str(value or "").strip()
    key = text.lower().replace("-", "_")
    if key == "thirdparty":
        key = "third_party"
    return key if key in PURPOSES else None


def attribute_names(purpose: str) -> tuple[str, ...]:
    """Customer attributes that carry a purpose's consent, in lookup order."""
    if purpose == "third_party":
        return ("consent_third_party", "consent_thirdParty")
    return (f"consent_{purpose}",)


def read_attribute(value: Any) -> str | None:
    """``granted`` | ``revoked`` | ``pending`` | ``unrecognised``; None for no information."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "granted" if value else "revoked"
    if isinstance(value, int | float):
        return "granted" if value == 1 else "revoked" if value == 0 else "unrecognised"
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _GRANTED:
        return "granted"
    if text in _REVOKED:
        return "revoked"
    if text == "pending":
        return "pending"
    return "unrecognised"


@dataclass(frozen=True)
class ConsentStatus:
    """One purpose's resolved consent and where it came from."""

    purpose: str
    status: str
    source: str  # record | attribute | default
    record_id: str | None = None
    record_source: str | None = None
    attribute: str | None = None
    value: Any = None

    @property
    def allowed(self) -> bool:
        return self.source == "default" or self.status == "granted"

    def reason(self) -> str:
        if self.source == "record":
            where = f"consent record {self.record_id}, source {self.record_source}"
            return f"consent for purpose '{self.purpose}' is {self.status} ({where})"
        if self.status == "unrecognised":
            return (
                f"consent for purpose '{self.purpose}' is not granted (customer attribute "
                f"{self.attribute} = {self.value!r} is not a recognised consent value)"
            )
        shown = str(self.value).lower() if isinstance(self.value, bool) else repr(self.value)
        where = f"customer attribute {self.attribute} = {shown}"
        return f"consent for purpose '{self.purpose}' is {self.status} ({where})"

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"purpose": self.purpose, "status": self.status, "source": self.source}
        if self.source == "record":
            out["recordId"], out["recordSource"] = self.record_id, self.record_source
        else:
            out["attribute"], out["value"] = self.attribute, self.value
        return out


@dataclass
class ConsentBook:
    """The customer's consent for one decision: records first, then attributes, then allowed."""

    records: dict[str, ConsentStatus]
    attributes: Mapping[str, Any] | None  # None when the tenant disabled the attribute fallback

    def status(self, purpose: str) -> ConsentStatus:
        found = self.records.get(purpose)
        if found is not None:
            return found
        if self.attributes is not None:
            for name in attribute_names(purpose):
                value = self.attributes.get(name)
                status = read_attribute(value)
                if status is not None:
                    return ConsentStatus(purpose, status, "attribute", attribute=name, value=value)
        return ConsentStatus(purpose, "granted", "default")

    def blocked(self) -> dict[str, ConsentStatus]:
        """Every purpose whose consent is not granted, by purpose."""
        out = {}
        for purpose in PURPOSES:
            status = self.status(purpose)
            if not status.allowed:
                out[purpose] = status
        return out


def records_by_purpose(rows: Iterable[Sequence[Any]]) -> dict[str, ConsentStatus]:
    """Consent rows as statuses by normalised purpose (unknown purposes are ignored)."""
    out: dict[str, ConsentStatus] = {}
    for record_id, raw_purpose, raw_status, source in rows:
        purpose = normalize_purpose(raw_purpose)
        if purpose is None:
            continue
        status = str(raw_status or "").strip().lower() or "unknown"
        found = out.get(purpose)
        if found is not None and _RESTRICTIVENESS.get(found.status, 2) <= _RESTRICTIVENESS.get(status, 2):
            continue
        out[purpose] = ConsentStatus(purpose, status, "record", record_id=record_id, record_source=source)
    return out


def settings_of(engine: Engine) -> dict[str, Any]:
    value = engine.catalog.settings.get("consent")
    return value if isinstance(value, dict) else {}


def attribute_fallback(engine: Engine) -> bool:
    """``settings.consent.attributeFallback`` (default on); only an explicit false turns it off."""
    value = settings_of(engine).get("attributeFallback", True)
    return not (value is False or str(value).strip().lower() in {"false", "0", "no", "off"})


def channel_purpose(engine: Engine, channel_type: str | None) -> str | None:
    """The purpose a channel type needs besides marketing (None: marketing only)."""
    if not channel_type:
        return None
    kind = str(channel_type).lower()
    overrides = settings_of(engine).get("channelPurposes")
    if isinstance(overrides, dict) and kind in {str(k).lower() for k in overrides}:
        value = next(v for k, v in overrides.items() if str(k).lower() == kind)
        return normalize_purpose(value) if value and normalize_purpose(value) != "marketing" else None
    return CHANNEL_PURPOSES.get(kind)


async def load_book(engine: Engine, state: DecisionState) -> ConsentBook:
    """This customer's records (only if the tenant has any) and the attribute fallback."""
    records: dict[str, ConsentStatus] = {}
    customer_id = state.customer.customer_id
    if engine.catalog.has_consent_records:
        memo = engine.consent_memo
        if memo is not None and memo[0] == customer_id:
            records = memo[1]
        else:
            repo = engine.repo
            rows = await repo.select_rows(_RECORDS, {"tenant": repo.ctx.tenant_id, "customer": customer_id})
            records = records_by_purpose(rows)
            engine.consent_memo = (customer_id, records)
    attributes: Mapping[str, Any] | None = None
    if attribute_fallback(engine):
        attributes = state.customer.attributes
        if not state.enriched and len(records) < len(PURPOSES):
            # a flow without an enrich node: read the profile rows for consent only (merging
            # them into the customer would change what later nodes score on)
            loaded = await load_schema_attributes(engine.repo, customer_id)
            attributes = {**loaded, **dict(state.customer.attributes)}
    return ConsentBook(records, attributes)


def purposes_for(engine: Engine, state: DecisionState, cand: Candidate, channel_id: str | None) -> list[str]:
    """marketing, then the channel's purpose, then the offer's own ``metadata.consentPurposes``."""
    purposes = ["marketing"]
    channel = engine.catalog.channels.get(channel_id or "") if channel_id else state.channel
    extra = channel_purpose(engine, (channel or {}).get("channelType"))
    if extra and extra not in purposes:
        purposes.append(extra)
    for raw in (cand.offer.get("metadata") or {}).get("consentPurposes") or []:
        purpose = normalize_purpose(raw)
        if purpose and purpose not in purposes:
            purposes.append(purpose)
    return purposes


def first_block(purposes: list[str], blocked: dict[str, ConsentStatus]) -> ConsentStatus | None:
    for purpose in purposes:
        if purpose in blocked:
            return blocked[purpose]
    return None


async def apply_consent(engine: Engine, state: DecisionState, node: dict[str, Any]) -> None:
    """Drop every candidate a needed purpose is not granted for (once per decision).

    Costs nothing per candidate when nothing is blocked for this customer (the usual case).
    """
    if state.consent_checked:
        return
    state.consent_checked = True
    if not state.candidates:
        state.funnel["afterConsent"] = 0
        return
    book = await load_book(engine, state)
    blocked = book.blocked()
    if not blocked:
        state.funnel["afterConsent"] = len(state.candidates)
        return
    from kaireon_mcp.core.decisioning.nodes import _pick_weighted as pick_weighted

    request_channel_id = (state.channel or {}).get("id")
    purposes_by_channel: dict[str | None, list[str]] = {}
    survivors, reasons = [], {}
    for cand in state.candidates:

        def needs(channel_id: str | None, cand: Candidate = cand) -> ConsentStatus | None:
            key = channel_id or request_channel_id
            if (cand.offer.get("metadata") or {}).get("consentPurposes"):
                return first_block(purposes_for(engine, state, cand, key), blocked)
            if key not in purposes_by_channel:
                purposes_by_channel[key] = purposes_for(engine, state, cand, key)
            return first_block(purposes_by_channel[key], blocked)

        creative = cand.creative
        block = needs((creative or {}).get("channelId"))
        if cand.creatives:
            allowed = [c for c in cand.creatives if needs(c.get("channelId")) is None]
            if len(allowed) != len(cand.creatives):
                cand.creatives = allowed
                if block is not None and creative is not None and allowed:
                    cand.creative = pick_weighted(allowed, state.customer.customer_id, cand.offer_id)
                    cand.placement_id = (state.placement or {}).get("id") or cand.creative.get("placementId")
                    cand.properties["consentRerouted"] = {
                        "fromCreativeId": creative.get("id"),
                        "toCreativeId": cand.creative.get("id"),
                        "purpose": block.purpose,
                    }
                    block = None
        if block is None:
            survivors.append(cand)
        else:
            reasons[cand.offer_id] = {
                "reason": block.reason(),
                "ruleType": "consent",
                "purpose": block.purpose,
                "consentSource": block.source,
                "detail": block.detail(),
            }
    state.keep(node, STAGE, survivors, reasons)
    state.funnel["afterConsent"] = len(survivors)


def _channel_type(engine: Engine, channel: str | None) -> str | None:
    """A journey step names its channel by id, name or type; the type decides the purpose."""
    if not channel:
        return None
    wanted = channel.strip().lower()
    for row in engine.catalog.channels.values():
        if wanted in {str(row.get("id", "")).lower(), str(row.get("name", "")).lower()}:
            return str(row.get("channelType") or "") or None
    return wanted


async def refusal_for_channel(
    engine: Engine, state: DecisionState, channel: str | None
) -> ConsentStatus | None:
    """Why a direct send on ``channel`` (a journey's channel action) is not consented to, or None.

    The same purposes and resolution as a decision: marketing plus the channel's purpose.
    """
    purposes = ["marketing"]
    extra = channel_purpose(engine, _channel_type(engine, channel))
    if extra:
        purposes.append(extra)
    return first_block(purposes, (await load_book(engine, state)).blocked())
