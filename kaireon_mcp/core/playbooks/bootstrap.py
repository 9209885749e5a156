"""The plan of ``playbook_bootstrap_new_offer_campaign``: category → offer → creative → extras.

Existing categories and sub-categories are reused by name, so running the playbook for a
second offer in the same category does not fail on the unique name. Everything else is a
create call whose arguments are listed in full, with ``$ref.id`` placeholders for ids the
plan itself creates. Duplicate offer names are reported as a warning, not refused, so the
dry run still shows the whole plan (apply then fails on that step and rolls back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kaireon_mcp.core.playbooks.plan import Step, ref, step
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Category, Channel, Creative, Offer, SubCategory

TEMPLATE_BY_CHANNEL = {
    "email": "email_html",
    "push": "push_notification",
    "sms": "sms_text",
    "in_app": "in_app_card",
    "web": "web_banner",
    "webhook": "webhook_payload",
    "whatsapp": "whatsapp_template",
}
DERIVED = {"offer": ("categoryId", "subCategoryId"), "creative": ("offerId", "channelId")}


@dataclass
class CampaignSpec:
    category_name: str
    offer: dict[str, Any]
    channel_id: str
    sub_category_name: str | None = None
    creative: dict[str, Any] | None = None
    qualification_rule: dict[str, Any] | None = None
    journey: dict[str, Any] | None = None


@dataclass
class CampaignPlan:
    steps: list[Step] = field(default_factory=list)
    reused: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _refuse_derived(kind: str, values: Mapping[str, Any]) -> None:
    for key in DERIVED[kind]:
        if key in values:
            raise ValidationError(f"{kind}.{key} is set by the playbook; leave it out", field=f"{kind}.{key}")


async def _category(repo: Repository, spec: CampaignSpec, plan: CampaignPlan) -> tuple[str, str | None]:
    """(category id or ref, existing category id or None)."""
    found = await repo.find(Category, name=spec.category_name)
    if found is not None:
        plan.reused.append({"entityType": "category", "id": found.id, "name": found.name})
        return found.id, found.id
    plan.steps.append(step("createCategory", {"name": spec.category_name}, ref="category"))
    return ref("category"), None


async def _sub_category(
    repo: Repository, spec: CampaignSpec, plan: CampaignPlan, category: str, existing: str | None
) -> str | None:
    if not spec.sub_category_name:
        return None
    found = (
        await repo.find(SubCategory, category_id=existing, name=spec.sub_category_name) if existing else None
    )
    if found is not None:
        plan.reused.append({"entityType": "sub_category", "id": found.id, "name": found.name})
        return found.id
    args = {"categoryId": category, "name": spec.sub_category_name}
    plan.steps.append(step("createSubCategory", args, ref="subCategory"))
    return ref("subCategory")


async def _offer(
    repo: Repository, spec: CampaignSpec, plan: CampaignPlan, category: str, sub: str | None
) -> str:
    _refuse_derived("offer", spec.offer)
    name = str(spec.offer.get("name") or "")
    if not name:
        raise ValidationError("offer.name is required", field="offer.name")
    if await repo.find(Offer, name=name) is not None:
        plan.warnings.append(f"an offer named {name!r} already exists; apply will fail at createOffer")
    args = {**spec.offer, "categoryId": category, **({"subCategoryId": sub} if sub else {})}
    plan.steps.append(step("createOffer", args, ref="offer"))
    return name


async def _creative(repo: Repository, spec: CampaignSpec, plan: CampaignPlan, offer_name: str) -> None:
    channel = await repo.get(Channel, spec.channel_id)
    values = dict(spec.creative or {})
    _refuse_derived("creative", values)
    template = TEMPLATE_BY_CHANNEL.get(channel.channel_type)
    args = {
        "name": f"{offer_name} / {channel.name}",
        **({"templateType": template} if template else {}),
        **values,
        "offerId": ref("offer"),
        "channelId": channel.id,
    }
    if await repo.find(Creative, name=args["name"]) is not None:
        plan.warnings.append(
            f"a creative named {args['name']!r} already exists; apply will fail at createCreative"
        )
    plan.steps.append(step("createCreative", args, ref="creative"))


def _rule(spec: CampaignSpec, plan: CampaignPlan, offer_name: str) -> None:
    if spec.qualification_rule is None:
        return
    rule = dict(spec.qualification_rule)
    for key in ("scope", "scopeId"):
        if key in rule:
            raise ValidationError(
                f"qualificationRule.{key} is set by the playbook (the new offer)", field=key
            )
    args = {"name": f"{offer_name} eligibility", **rule, "scope": "offer", "scopeId": ref("offer")}
    plan.steps.append(step("createQualificationRule", args, ref="qualificationRule"))


def journey_skeleton(channel_id: str) -> dict[str, Any]:
    """Entry → send the new offer's creative → wait 3 days → exit; a draft to fill in."""
    return {
        "nodes": [
            {"id": "entry", "type": "entry_trigger", "config": {"eventType": "campaign.enrolled"}},
            {
                "id": "send",
                "type": "channel_action",
                "config": {"offerId": ref("offer"), "creativeId": ref("creative"), "channelId": channel_id},
            },
            {"id": "wait", "type": "wait", "config": {"delayHours": 72}},
            {"id": "exit", "type": "exit", "config": {"reason": "campaign_complete"}},
        ],
        "edges": [
            {"from": "entry", "to": "send"},
            {"from": "send", "to": "wait"},
            {"from": "wait", "to": "exit"},
        ],
    }


def _journey(spec: CampaignSpec, plan: CampaignPlan, offer_name: str) -> None:
    if spec.journey is None:
        return
    args = {
        "name": f"{offer_name} journey",
        "definition": journey_skeleton(spec.channel_id),
        "entryCondition": {"event": "campaign.enrolled"},
        **spec.journey,
    }
    plan.steps.append(step("createJourney", args, ref="journey"))


async def plan_campaign(repo: Repository, spec: CampaignSpec) -> CampaignPlan:
    """Read-only: resolve reuse by name and list every create call in dependency order."""
    plan = CampaignPlan()
    category, existing = await _category(repo, spec, plan)
    sub = await _sub_category(repo, spec, plan, category, existing)
    offer_name = await _offer(repo, spec, plan, category, sub)
    await _creative(repo, spec, plan, offer_name)
    _rule(spec, plan, offer_name)
    _journey(spec, plan, offer_name)
    return plan
