"""Contact-policy conflict detection and a proposed priority order (arbitrate playbook).

Policies run by priority, highest first, and the first block wins, so the order decides
which policy a suppressed customer is told about and which cap is "the" binding one. Three
things make that order ambiguous or misleading, and each is reported as a conflict:

* ``limit_mismatch``: two policies of the same limit-bearing type on overlapping scopes
  with different limits for the same window (two answers to "how often may we contact");
* ``priority_tie``: equal priorities on overlapping scopes (the order is then undefined);
* ``override_shadows_cap``: an ``allow_override`` on a scope a bypassable blocking policy
  also covers. Overrides skip every bypassable policy whatever the order, so no priority
  fixes this one; the resolution says what does.

The proposal puts stricter policies first (the binding constraint is evaluated and
reported first) and gives every policy of a conflicting group a distinct priority.
Scopes overlap when either side is global/segment-wide (or has no scopeId, which behaves
globally) or both name the same scope and id; hierarchy overlaps (an offer inside a
category) and channel-type versus channel-id scopes are not resolved here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaireon_mcp.core.contact_policy import cap_windows
from kaireon_mcp.core.operators import to_number
from kaireon_mcp.core.playbooks.plan import Step, step
from kaireon_mcp.core.qualification import scope_entries
from kaireon_mcp.errors import ValidationError

CAP_TYPES = frozenset({"frequency_cap", "cross_channel_cap", "customer_total_cap"})
ABSOLUTE_TYPES = frozenset({"do_not_contact", "segment_exclusion"})
OVERRIDE = "allow_override"
WIDE_SCOPES = frozenset({"global", "segment"})
PERIOD_DAYS = {"day": 1.0, "week": 7.0, "month": 30.0}
LIMIT_KEYS = {
    "cooldown": ("cooldownHours",),
    "category_suppression": ("suppressionDays",),
    "outcome_based": ("suppressForDays",),
}
SUPPRESSION_DAYS = {"category_suppression": "suppressionDays", "outcome_based": "suppressForDays"}


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    rule_type: str
    config: Mapping[str, Any]
    priority: int
    entries: tuple[tuple[str, str | None], ...]

    @property
    def bypassable(self) -> bool:
        return self.config.get("bypassable", True) is not False


def policy_from_row(row: Mapping[str, Any]) -> Policy:
    """From a camelCase ContactPolicy dict (``to_dict()`` or a list-tool item)."""
    entries = scope_entries(row.get("scope"), row.get("scopeId"), row.get("scopes") or [])
    return Policy(
        id=str(row["id"]),
        name=str(row.get("name", "")),
        rule_type=str(row.get("ruleType", "")),
        config=dict(row.get("config") or {}),
        priority=int(row.get("priority", 50) or 0),
        entries=tuple((kind.lower().replace("sub_category", "subcategory"), sid) for kind, sid in entries),
    )


def _wide(entry: tuple[str, str | None]) -> bool:
    return entry[0] in WIDE_SCOPES or entry[1] in (None, "")


def overlaps(a: Policy, b: Policy) -> bool:
    return any(_wide(x) or _wide(y) or x == y for x in a.entries for y in b.entries)


def _outcomes(config: Mapping[str, Any]) -> frozenset[str]:
    raw = config.get("afterOutcome", config.get("outcomeType"))
    items = raw if isinstance(raw, list) else [raw]
    return frozenset(str(item) for item in items if item)


def limits(policy: Policy) -> dict[str, Any] | None:
    """The policy's limits keyed by what they limit; None for types without a limit.

    Caps are keyed by window (``day``, ``week``, a rolling ``48h``...) so a weekly channel cap
    next to a global daily cap is layering, not a conflict; only the same window with two
    different numbers is.
    """
    config = policy.config
    if policy.rule_type in CAP_TYPES:
        return {w.label: w.limit for w in cap_windows(config)}
    keys = LIMIT_KEYS.get(policy.rule_type)
    if keys is None:
        return None
    return {key: to_number(config.get(key)) for key in keys if config.get(key) is not None}


def limits_differ(a: Policy, b: Policy) -> bool:
    mine, theirs = limits(a), limits(b)
    if not mine or not theirs:
        return False
    return any(mine[key] != theirs[key] for key in set(mine) & set(theirs))


def allowance(policy: Policy) -> float | None:
    """Contacts per day the policy allows (lower = stricter); None when not quantifiable."""
    config = policy.config
    if policy.rule_type in ABSOLUTE_TYPES:
        return 0.0
    if policy.rule_type in CAP_TYPES:
        rates = [
            w.limit / (w.span.total_seconds() / 86400 if w.span else PERIOD_DAYS.get(str(w.period), 1.0))
            for w in cap_windows(config)
        ]
        return min(rates) if rates else None
    if policy.rule_type == "cooldown":
        hours = to_number(config.get("cooldownHours"))
        return 24.0 / hours if hours else None
    key = SUPPRESSION_DAYS.get(policy.rule_type)
    days = to_number(config.get(key)) if key else None
    return 1.0 / days if days else None


def strictness_key(policy: Policy) -> tuple[Any, ...]:
    """Sort key, strictest first: quantified allowance, then other blocks, overrides last."""
    if policy.rule_type == OVERRIDE:
        group, value = 2, 0.0
    else:
        amount = allowance(policy)
        group, value = (0, amount) if amount is not None else (1, 0.0)
    return (group, value, policy.bypassable, -policy.priority, policy.name, policy.id)


def _describe(policy: Policy) -> str:
    limit = allowance(policy)
    return f"{policy.name} ({policy.rule_type}, priority {policy.priority}" + (
        f", ~{limit:g}/day)" if limit is not None and policy.rule_type != OVERRIDE else ")"
    )


def _conflict(kind: str, a: Policy, b: Policy, message: str, resolution: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "policyIds": [a.id, b.id],
        "policyNames": [a.name, b.name],
        "message": message,
        "resolution": resolution,
    }


def _pair_conflicts(a: Policy, b: Policy) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if a.rule_type == b.rule_type and a.rule_type != OVERRIDE:
        same_outcomes = a.rule_type != "outcome_based" or bool(_outcomes(a.config) & _outcomes(b.config))
        if same_outcomes and limits_differ(a, b):
            found.append(
                _conflict(
                    "limit_mismatch",
                    a,
                    b,
                    f"{_describe(a)} and {_describe(b)} set different limits on overlapping scopes",
                    "evaluate the stricter first so it is the one reported; consider removing the looser",
                )  # fmt: skip
            )
    if a.priority == b.priority and OVERRIDE not in (a.rule_type, b.rule_type):
        found.append(
            _conflict(
                "priority_tie",
                a,
                b,
                f"{a.name} and {b.name} share priority {a.priority} on overlapping scopes",
                "give them distinct priorities so the evaluation order is defined",
            )  # fmt: skip
        )
    return found


def _override_conflict(override: Policy, cap: Policy) -> dict[str, Any]:
    return _conflict(
        "override_shadows_cap", override, cap,
        f"allow_override {override.name} skips {cap.name} for every candidate it matches",
        "priorities cannot fix this: narrow the override's scope or set config.bypassable=false on "
        f"{cap.name}",
    )  # fmt: skip


def detect_conflicts(policies: Sequence[Policy]) -> list[dict[str, Any]]:
    """Every conflicting pair among ``policies`` (each unordered pair reported once per kind)."""
    conflicts: list[dict[str, Any]] = []
    ordered = sorted(policies, key=lambda p: (-p.priority, p.name, p.id))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if not overlaps(a, b):
                continue
            conflicts += _pair_conflicts(a, b)
            if a.rule_type == OVERRIDE and b.rule_type != OVERRIDE and b.bypassable:
                conflicts.append(_override_conflict(a, b))
            elif b.rule_type == OVERRIDE and a.rule_type != OVERRIDE and a.bypassable:
                conflicts.append(_override_conflict(b, a))
    return conflicts


def _components(policies: Sequence[Policy], conflicts: Iterable[Mapping[str, Any]]) -> list[list[Policy]]:
    """Groups linked by conflicts that a priority order can resolve."""
    parent = {p.id: p.id for p in policies}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for conflict in conflicts:
        if conflict["kind"] == "override_shadows_cap":
            continue
        a, b = conflict["policyIds"]
        parent[root(a)] = root(b)
    groups: dict[str, list[Policy]] = {}
    for policy in policies:
        groups.setdefault(root(policy.id), []).append(policy)
    return [g for g in groups.values() if len(g) > 1]


def _slots(group: Sequence[Policy], taken: set[int]) -> list[int]:
    """Distinct priorities for a group: its own values, duplicates moved down to free ones.

    Reusing the group's values keeps its position relative to every other policy; a
    value is free when no overlapping policy outside the group holds it (no new ties).
    """
    slots: list[int] = []
    for wanted in sorted((p.priority for p in group), reverse=True):
        value = wanted
        while value in slots or value in taken:
            value -= 1
        if value < 0:
            raise ValidationError(
                "no free priority left below the group's values; spread the priorities by hand first",
                field="policyIds",
            )
        slots.append(value)
    return slots


def propose_order(
    analysed: Sequence[Policy], conflicts: Sequence[Mapping[str, Any]], context: Sequence[Policy]
) -> list[dict[str, Any]]:
    """Per conflicting group: strictest first, distinct priorities. ``context`` = all active."""
    proposal: list[dict[str, Any]] = []
    for group in sorted(_components(analysed, conflicts), key=lambda g: min(p.id for p in g)):
        ids = {p.id for p in group}
        taken = {o.priority for o in context if o.id not in ids and any(overlaps(o, p) for p in group)}
        ordered = sorted(group, key=strictness_key)
        for policy, priority in zip(ordered, _slots(group, taken), strict=True):
            proposal.append(
                {
                    "policyId": policy.id,
                    "name": policy.name,
                    "ruleType": policy.rule_type,
                    "allowancePerDay": allowance(policy),
                    "from": policy.priority,
                    "to": priority,
                }
            )
    return proposal


def plan_updates(proposal: Iterable[Mapping[str, Any]]) -> list[Step]:
    """``updateContactPolicy`` calls for every policy whose priority actually changes."""
    return [
        step(
            "updateContactPolicy",
            {"policyId": item["policyId"], "priority": item["to"]},
            entity_type="contact_policy",
            entity_id=item["policyId"],
            changes={"priority": {"from": item["from"], "to": item["to"]}},
        )
        for item in proposal
        if item["from"] != item["to"]
    ]
