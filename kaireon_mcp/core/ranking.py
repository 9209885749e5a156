"""Rank, group and constrain candidates (spec §3.4 rank/group, §3.9 coupling, §3.10 hard constraints).

Candidates are duck-typed: any mapping or object exposing ``offer_id``, ``score``,
``priority``, ``name`` and ``category_id`` (and optionally ``subcategory_id``). The
camelCase spellings the API uses (``offerId``, ``categoryId``, ``subCategoryId``) are
accepted too, so pipeline dicts need no adapter. Functions return the *same*
candidate objects, reordered or grouped, never copies.

Deterministic order everywhere: score desc, then priority desc, then name asc, then
offer id asc, so equal inputs always rank identically (spec: ties by priority then name).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import numpy as np

from kaireon_mcp.errors import ValidationError

RANK_METHODS = ("score", "diversity", "weighted_random", "random", "round_robin")
GROUP_STRATEGIES = ("greedy", "optimal", "equal")
COUPLING_MODES = ("partial", "atomic")
DEFAULT_DIVERSITY_PENALTY = 0.5

_ALIASES: dict[str, tuple[str, ...]] = {
    "offer_id": ("offer_id", "offerId"),
    "score": ("score",),
    "priority": ("priority",),
    "name": ("name", "offerName"),
    "category_id": ("category_id", "categoryId"),
    "subcategory_id": ("subcategory_id", "sub_category_id", "subCategoryId", "subcategoryId"),
}


class RankCandidate(Protocol):
    """Documentation of the attributes read; plain dicts with these keys work as well."""

    offer_id: str
    score: float
    priority: float
    name: str
    category_id: str | None


C = TypeVar("C")


_ABSENT = object()
_MAPPING_TYPES: dict[type, bool] = {}


def _is_mapping(kind: type) -> bool:
    """``isinstance(x, Mapping)`` per type, memoised: the ABC check is slow and runs per field."""
    known = _MAPPING_TYPES.get(kind)
    if known is None:
        known = _MAPPING_TYPES[kind] = issubclass(kind, Mapping)
    return known


def get_field(candidate: Any, key: str) -> Any:
    """Read a candidate attribute from a mapping or an object, trying the known aliases.

    Objects are read with one ``getattr`` per alias (not ``hasattr`` then ``getattr``), so
    a property is evaluated once; this runs for every candidate on every rank.
    """
    aliases = _ALIASES.get(key, (key,))
    if _is_mapping(type(candidate)):
        for alias in aliases:
            if alias in candidate:
                return candidate[alias]
        return None
    for alias in aliases:
        value = getattr(candidate, alias, _ABSENT)
        if value is not _ABSENT:
            return value
    return None


def _num(candidate: Any, key: str) -> float:
    value = get_field(candidate, key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _text(candidate: Any, key: str) -> str:
    value = get_field(candidate, key)
    return "" if value is None else str(value)


def order_key(candidate: Any, score: float | None = None) -> tuple[float, float, str, str]:
    """Sort key: score desc, priority desc, name asc, offer id asc."""
    s = _num(candidate, "score") if score is None else score
    return (-s, -_num(candidate, "priority"), _text(candidate, "name"), _text(candidate, "offer_id"))


def _by_score(candidates: Sequence[C]) -> list[C]:
    return sorted(candidates, key=order_key)


Fact = tuple[Any, float, float, str, str, Any, Any]


def _diversity(candidates: Sequence[C], k: int, penalty: float, sub_penalty: float) -> list[C]:
    """Greedy re-rank: effective = score · penalty^(picked same category) · sub_penalty^(picked same sub).

    A repeat inside the same subcategory is also a category repeat, so with both
    defaults at 0.5 it is damped 4× per earlier pick versus 2× for a sibling subcategory.
    Candidates without a category are never penalised.
    """
    # read every field once: the greedy loop compares each remaining candidate k times
    facts: list[Fact] = sorted(
        (
            (
                c,
                _num(c, "score"),
                -_num(c, "priority"),
                _text(c, "name"),
                _text(c, "offer_id"),
                get_field(c, "category_id"),
                get_field(c, "subcategory_id"),
            )
            for c in candidates
        ),
        key=lambda f: (-f[1], f[2], f[3], f[4]),  # order_key, from the facts already read
    )
    if all(math.isfinite(f[1]) and math.isfinite(f[2]) for f in facts):
        return _diversity_grouped(facts, k, penalty, sub_penalty)
    return _diversity_scan(facts, k, penalty, sub_penalty)


def _penalty_factor(
    cat: Any, sub: Any, cats: Counter[str], subs: Counter[str], penalty: float, sub_penalty: float
) -> float:
    return (penalty ** cats[str(cat)] if cat is not None else 1.0) * (
        sub_penalty ** subs[str(sub)] if sub is not None else 1.0
    )


def _diversity_scan(facts: list[Fact], k: int, penalty: float, sub_penalty: float) -> list[Any]:
    """The reference greedy loop: every remaining candidate re-keyed on every pick."""
    picked: list[Any] = []
    cats: Counter[str] = Counter()
    subs: Counter[str] = Counter()
    while facts and len(picked) < k:

        def effective(f: Fact) -> tuple[float, float, str, str]:
            _, score, neg_priority, name, offer_id, cat, sub = f
            factor = _penalty_factor(cat, sub, cats, subs, penalty, sub_penalty)
            return (-(score * factor), neg_priority, name, offer_id)

        best = min(facts, key=effective)
        facts.remove(best)
        picked.append(best[0])
        if best[5] is not None:
            cats[str(best[5])] += 1
        if best[6] is not None:
            subs[str(best[6])] += 1
    return picked


def _diversity_grouped(facts: list[Fact], k: int, penalty: float, sub_penalty: float) -> list[Any]:
    """Same picks as :func:`_diversity_scan` for finite scores, in O(groups) per pick.

    Candidates sharing (category, subcategory) share one penalty factor ``f >= 0``, and
    ``score · f`` never increases along score order, so a group's best is within the
    prefix tied on ``score · f``; ties fall to priority, name, id, then input position.
    """
    groups: dict[tuple[str | None, str | None], list[int]] = {}
    for position, f in enumerate(facts):
        group = (None if f[5] is None else str(f[5]), None if f[6] is None else str(f[6]))
        groups.setdefault(group, []).append(position)
    picked: list[Any] = []
    cats: Counter[str] = Counter()
    subs: Counter[str] = Counter()
    while len(picked) < min(k, len(facts)):
        best: tuple[float, float, str, str, int] | None = None
        best_group: list[int] = []
        for members in groups.values():
            if not members:
                continue
            first = facts[members[0]]
            factor = _penalty_factor(first[5], first[6], cats, subs, penalty, sub_penalty)
            top = first[1] * factor
            for position in members:
                f = facts[position]
                if f[1] * factor != top:
                    break
                key = (-top, f[2], f[3], f[4], position)
                if best is None or key < best:
                    best, best_group = key, members
        assert best is not None
        best_group.remove(best[4])
        chosen = facts[best[4]]
        picked.append(chosen[0])
        if chosen[5] is not None:
            cats[str(chosen[5])] += 1
        if chosen[6] is not None:
            subs[str(chosen[6])] += 1
    return picked


def _weighted_random(candidates: Sequence[C], k: int, rng: random.Random) -> list[C]:
    """Draw without replacement, each step ∝ score; non-positive scores follow in score order."""
    remaining = _by_score(candidates)
    picked: list[C] = []
    while remaining and len(picked) < k:
        weights = [max(_num(c, "score"), 0.0) for c in remaining]
        total = sum(weights)
        if total <= 0:
            picked.extend(remaining[: k - len(picked)])
            break
        u = rng.random() * total
        idx = len(remaining) - 1
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if u < acc:
                idx = i
                break
        picked.append(remaining.pop(idx))
    return picked


def _round_robin(candidates: Sequence[C], k: int) -> list[C]:
    """One per category per round; categories take turns in order of their best candidate."""
    groups: dict[str, list[C]] = {}
    for c in _by_score(candidates):
        cat = get_field(c, "category_id")
        groups.setdefault("\0none" if cat is None else str(cat), []).append(c)
    queues = list(groups.values())
    out: list[C] = []
    depth = 0
    while len(out) < k and any(depth < len(q) for q in queues):
        out.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return out[:k]


def rank(
    candidates: Sequence[C],
    method: str = "score",
    max_candidates: int = 5,
    rng: random.Random | None = None,
    *,
    penalty: float = DEFAULT_DIVERSITY_PENALTY,
    subcategory_penalty: float = DEFAULT_DIVERSITY_PENALTY,
) -> list[C]:
    """Order candidates by ``method`` and keep the first ``max_candidates`` (rank = index + 1).

    Methods: ``score``, ``diversity``, ``weighted_random``, ``random`` (uniform
    shuffle) and ``round_robin``. Random methods use ``rng`` (an unseeded one when omitted).
    """
    if method not in RANK_METHODS:
        raise ValidationError(
            f"unknown rank method {method!r}; expected one of {', '.join(RANK_METHODS)}", field="method"
        )
    if max_candidates < 0:
        raise ValidationError("maxCandidates must be >= 0", field="maxCandidates")
    if not (0.0 <= penalty <= 1.0 and 0.0 <= subcategory_penalty <= 1.0):
        raise ValidationError("diversity penalties must be within [0, 1]", field="penalty")
    r = rng or random.Random()
    if method == "diversity":
        return _diversity(candidates, max_candidates, penalty, subcategory_penalty)
    if method == "weighted_random":
        return _weighted_random(candidates, max_candidates, r)
    if method == "random":
        shuffled = list(candidates)
        r.shuffle(shuffled)
        return shuffled[:max_candidates]
    if method == "round_robin":
        return _round_robin(candidates, max_candidates)
    return _by_score(candidates)[:max_candidates]


# --- group allocation -------------------------------------------------------------------------------

Eligibility = Callable[[Any, str], bool]
SlotScore = Callable[[Any, str], float]


def _placement_slots(placements: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for i, p in enumerate(placements):
        pid = p.get("placementId", p.get("placement_id"))
        slots = p.get("maxSlots", p.get("max_slots", 1))
        if not pid:
            raise ValidationError("placement needs a placementId", field=f"placements[{i}].placementId")
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 0:
            raise ValidationError(
                "maxSlots must be a non-negative integer", field=f"placements[{i}].maxSlots"
            )
        if any(pid == seen for seen, _ in out):
            raise ValidationError(f"duplicate placement {pid!r}", field=f"placements[{i}].placementId")
        out.append((str(pid), slots))
    return out


def _unique_offers(candidates: Sequence[C]) -> list[C]:
    """First occurrence per offer id wins, so an offer can fill at most one slot."""
    seen: set[str] = set()
    out: list[C] = []
    for c in candidates:
        oid = _text(c, "offer_id")
        if oid not in seen:
            seen.add(oid)
            out.append(c)
    return out


def _greedy(cands: list[C], slots: list[tuple[str, int]], ok: Eligibility) -> dict[str, list[C]]:
    out: dict[str, list[C]] = {pid: [] for pid, _ in slots}
    for c in cands:
        for pid, cap in slots:
            if len(out[pid]) < cap and ok(c, pid):
                out[pid].append(c)
                break
    return out


def _equal(cands: list[C], slots: list[tuple[str, int]], ok: Eligibility) -> dict[str, list[C]]:
    """Round-robin: each candidate tries placements starting after the last one filled."""
    out: dict[str, list[C]] = {pid: [] for pid, _ in slots}
    start = 0
    for c in cands:
        for step in range(len(slots)):
            i = (start + step) % len(slots)
            pid, cap = slots[i]
            if len(out[pid]) < cap and ok(c, pid):
                out[pid].append(c)
                start = i + 1
                break
    return out


_FILL_BONUS = 1e-9  # prefer filling a slot over leaving it empty when the score is exactly 0


def _optimal(
    cands: list[C], slots: list[tuple[str, int]], ok: Eligibility, value: SlotScore
) -> dict[str, list[C]]:
    """Max-weight assignment of candidates to slot positions (Hungarian via SciPy).

    Columns are every slot position plus one "unassigned" dummy per candidate (value 0),
    so leaving an offer out is always possible and forbidden pairs (value −big) never win.
    """
    from scipy.optimize import linear_sum_assignment

    columns = [pid for pid, cap in slots for _ in range(cap)]
    out: dict[str, list[C]] = {pid: [] for pid, _ in slots}
    if not cands or not columns:
        return out
    gains = np.zeros((len(cands), len(columns) + len(cands)))
    allowed = np.zeros_like(gains, dtype=bool)
    for i, c in enumerate(cands):
        for j, pid in enumerate(columns):
            if ok(c, pid):
                gains[i, j] = float(value(c, pid)) + _FILL_BONUS
                allowed[i, j] = True
    forbidden = -(1.0 + float(np.abs(gains).sum()))
    gains[:, : len(columns)][~allowed[:, : len(columns)]] = forbidden
    rows, cols = linear_sum_assignment(gains, maximize=True)
    picked: dict[str, list[tuple[float, int]]] = {pid: [] for pid, _ in slots}
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if j < len(columns) and allowed[i, j]:
            picked[columns[j]].append((gains[i, j], i))
    for pid, items in picked.items():
        out[pid] = [cands[i] for _, i in sorted(items, key=lambda t: (-t[0], t[1]))]
    return out


def allocate_groups(
    candidates: Sequence[C],
    placements: Sequence[Mapping[str, Any]],
    strategy: str = "optimal",
    eligibility: Eligibility | None = None,
    slot_score: SlotScore | None = None,
) -> dict[str, list[C]]:
    """Fill placement slots (``{placementId, maxSlots}``) with candidates; each offer at most once.

    * ``greedy``: walk candidates in the given (ranked) order, each taking the first
      placement, in the order listed, that is eligible and has a free slot.
    * ``optimal``: maximise Σ ``slot_score(candidate, placementId)`` (default: the
      candidate's score) over all slots; within a placement offers are ordered by that
      slot score.
    * ``equal``: round-robin across placements so they fill evenly.

    Every placement id appears in the result, possibly with an empty list.
    """
    if strategy not in GROUP_STRATEGIES:
        raise ValidationError(
            f"unknown group strategy {strategy!r}; expected one of {', '.join(GROUP_STRATEGIES)}",
            field="strategy",
        )
    slots = _placement_slots(placements)
    cands = _unique_offers(candidates)

    def ok(c: Any, pid: str) -> bool:
        return True if eligibility is None else bool(eligibility(c, pid))

    if strategy == "greedy":
        return _greedy(cands, slots, ok)
    if strategy == "equal":
        return _equal(cands, slots, ok)
    return _optimal(cands, slots, ok, slot_score or (lambda c, _pid: _num(c, "score")))


def apply_coupling(
    allocation: Mapping[str, Sequence[C]],
    placement_channel: Mapping[str, str],
    channel_modes: Mapping[str, str],
    override: str | None = None,
) -> tuple[dict[str, list[C]], list[dict[str, Any]]]:
    """Enforce atomic channels (spec §3.9) on a group allocation; returns (allocation, records).

    Effective mode = ``override`` (the flow's ``couplingOverride``) if set, else the
    channel's mode, else ``partial``. In an atomic channel one empty placement empties
    all its siblings; each cascade yields ``{channelId, cascaded: True, emptyPlacements,
    clearedPlacements}`` (the placements that were empty / the ones emptied by the cascade).
    Placements with no known channel are left alone; coupling never crosses channels.
    """
    for mode in [override, *channel_modes.values()]:
        if mode is not None and mode not in COUPLING_MODES:
            raise ValidationError(
                f"coupling mode must be partial or atomic, got {mode!r}", field="couplingMode"
            )
    result = {pid: list(offers) for pid, offers in allocation.items()}
    by_channel: dict[str, list[str]] = {}
    for pid in result:
        if pid in placement_channel:
            by_channel.setdefault(placement_channel[pid], []).append(pid)
    records: list[dict[str, Any]] = []
    for channel_id, pids in by_channel.items():
        if (override or channel_modes.get(channel_id) or "partial") != "atomic":
            continue
        empty = [pid for pid in pids if not result[pid]]
        if not empty:
            continue
        cleared = [pid for pid in pids if result[pid]]
        for pid in cleared:
            result[pid] = []
        records.append(
            {
                "channelId": channel_id,
                "cascaded": True,
                "emptyPlacements": empty,
                "clearedPlacements": cleared,
            }
        )
    return result, records


# --- per-offer hard constraints ---------------------------------------------------------------------


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _amount(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _budget_violation(offer: Mapping[str, Any], today: date) -> str | None:
    """Spend counters may sit inside ``budget`` or on the offer itself."""
    raw_budget = offer.get("budget")
    budget: Mapping[str, Any] = raw_budget if isinstance(raw_budget, Mapping) else {}

    def read(key: str) -> Any:
        return budget.get(key, offer.get(key))

    daily_cap = _amount(read("dailyCapCents"))
    reset_raw = read("lastDailyResetDate")
    reset = _as_date(reset_raw)
    if daily_cap is not None and (reset_raw is None or reset is not None):
        spent = (
            0.0 if reset is not None and reset != today else _amount(read("currentDailySpentCents")) or 0.0
        )
        if spent >= daily_cap:
            return "budget_daily_cap"
    lifetime_cap = _amount(read("lifetimeCapCents"))
    if lifetime_cap is not None and (_amount(read("currentLifetimeSpentCents")) or 0.0) >= lifetime_cap:
        return "budget_lifetime_cap"
    return None


def _stock_violation(offer: Mapping[str, Any]) -> str | None:
    inventory = offer.get("inventory")
    if not isinstance(inventory, Mapping):
        return None
    remaining = _amount(inventory.get("remainingStock"))
    return "out_of_stock" if remaining is not None and remaining <= 0 else None


def _frequency_violation(offer: Mapping[str, Any], seen: Mapping[str, Any] | None) -> str | None:
    caps = offer.get("frequencyCaps")
    per_customer = caps.get("perCustomer") if isinstance(caps, Mapping) else None
    if not isinstance(per_customer, Mapping) or not seen:
        return None
    for window in ("daily", "weekly", "monthly"):
        cap, count = _amount(per_customer.get(window)), _amount(seen.get(window))
        if cap is not None and count is not None and count >= cap:
            return f"frequency_cap_{window}"
    return None


def offer_constraint_violation(
    offer: Mapping[str, Any],
    now: datetime | date,
    impressions_of_offer: Mapping[str, Any] | None = None,
) -> str | None:
    """First hard-constraint violation of an offer (spec §3.10), or ``None`` when it may be shown.

    Reasons: ``budget_daily_cap``, ``budget_lifetime_cap``, ``out_of_stock``,
    ``frequency_cap_daily|weekly|monthly``. A cap is hit when spend / impressions have
    reached it (``>=``); absent caps or counters mean "not tracked". A cap of 0 blocks.
    The daily spend counter only counts when ``lastDailyResetDate`` is today (a
    missing date means the counter is trusted as current). Malformed values fail
    open, as the spec requires: they never block an offer. ``now`` should be in the
    tenant's time zone, since that decides what "today" is.
    """
    today = now.date() if isinstance(now, datetime) else now
    return (
        _budget_violation(offer, today)
        or _stock_violation(offer)
        or _frequency_violation(offer, impressions_of_offer)
    )
