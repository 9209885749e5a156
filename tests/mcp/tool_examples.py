"""Example arguments for every registered tool, for the MCP sweep in ``test_every_tool.py``.

Values starting with ``$`` are placeholders resolved from the sweep's state: ids seeded straight
into the database before the sweep (``$source``, ``$approval``, ``$airec``, ``$doomedSchema``) and
ids captured from earlier write calls (``$cat``, ``$offer``, ``$trace``...). The write steps run in
list order, so each one can use what the previous ones created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Args = dict[str, Any]
Check = Callable[[Args, Any], None]

CUSTOMER = "C-0001"
#: a customer the demo flow still recommends to (C-0001 is at its contact caps)
RECOMMENDED = "C-0003"
OFFER = "off_demo_bogo_5_day_easy"
EMAIL = "chn_demo_starbucks_email"
WEB = "chn_demo_web"
SCORECARD = "mdl_demo_offer_scorecard"
BAYES = "mdl_demo_naive_bayes"
EXPERIMENT = "exp_demo_scorecard_vs_bayesian"
SCHEMA = "sch_demo_starbucks_customers"
FLOW = "flow_demo_starbucks_nba"
FLOW_KEY = "starbucks-nba"
RULE = "qr_demo_min_age_18"
POLICY = "cp_demo_email_3_per_week"
METRIC = "bm_demo_impressions_30d"
MISSING = "zz_no_such_id"

#: tools that need an LLM provider: without one they answer isError PROVIDER_UNAVAILABLE
PROVIDER_TOOLS = frozenset({"generateCreativeCopy", "generateCreativeVariants", "proposePipelineIrPatch"})

SOURCE_ROWS: list[dict[str, Any]] = [
    {"CustomerID": "S1", "mail": "ann@example.com", "age": "34", "tier": "g"},
    {"CustomerID": "S2", "mail": None, "age": "51", "tier": "s"},
    {"CustomerID": "S3", "mail": "bob@example.com", "age": "19", "tier": "s"},
]


def pipeline_ir(rows: list[Args] | None = None) -> Args:
    return {
        "kind": "pipeline",
        "irVersion": "1.0",
        "nodes": [
            {"id": "src", "kind": "source", "config": {"rows": rows if rows is not None else SOURCE_ROWS}},
            {
                "id": "ren",
                "kind": "transform",
                "op": "rename",
                "config": {"mapping": {"CustomerID": "customer_id"}},
            },
            {"id": "cast", "kind": "transform", "op": "cast", "config": {"field": "age", "to": "integer"}},
            {
                "id": "check",
                "kind": "validate",
                "config": {"rules": [{"name": "email_required", "field": "mail", "operator": "is_not_null"}]},
            },
            {"id": "out", "kind": "target", "config": {}},
        ],
    }


YAML_CONNECTOR = """
name: Sweep API
baseUrl: http://127.0.0.1:9/
endpoints:
  - id: items
    path: /items
"""

# ---- read tools -----------------------------------------------------------------------------
READ_EXAMPLES: dict[str, Args] = {
    "analyzeContactPolicySuppression": {"channel": EMAIL, "period": "week"},
    "analyzeCrossModule": {},
    "analyzeModelHealth": {"modelId": SCORECARD},
    "analyzeOfferPerformance": {"period": "month", "limit": 5},
    "analyzePolicyConflicts": {},
    "analyzeQualificationFunnel": {"decisionFlowKey": FLOW_KEY, "sampleSize": 60},
    "compareOfferEligibility": {"customerId": CUSTOMER, "offerIds": [OFFER, "off_demo_bogo_5_day_hard"]},
    "computeShapValues": {"traceId": "$trace", "modelId": SCORECARD, "offerId": "$traceOffer"},
    "detectModelDrift": {"modelId": SCORECARD},
    "explainDecision": {"customerId": CUSTOMER, "offerId": OFFER, "decisionFlowKey": FLOW_KEY},
    "explainModelScoring": {"modelId": SCORECARD, "customerId": CUSTOMER},
    "generateCreativeCopy": {"offerId": OFFER, "channelType": "email"},
    "generateCreativeVariants": {"creativeId": "crv_demo_bogo_5_day_easy_email"},
    "generateDecisionNarrative": {"traceId": "$trace", "mode": "agent"},
    "getAiConfigStatus": {},
    "getAnalyzerSettings": {},
    "getContentItem": {"contentItemId": "$content", "includeVersions": True},
    "getDecisionFlow": {"flowId": FLOW},
    "getDecisionTrace": {"traceId": "$trace"},
    "getExperimentResults": {"experimentId": EXPERIMENT},
    "getFlowPipelineIr": {"pipelineId": "$pipeline", "version": 1},
    "getFlowRunErrors": {"runId": "$run"},
    "getFlowRunProgress": {"runId": "$run", "pipelineId": "$pipeline"},
    "getModel": {"modelId": SCORECARD},
    "getOffer": {"offerId": OFFER},
    "getSchemaFields": {"schemaId": SCHEMA},
    "getSchemaInboundReferences": {"schemaId": SCHEMA},
    "getSchemaStats": {"schemaId": SCHEMA},
    "getTenantSettings": {},
    "listAiRecommendations": {"limit": 10},
    "listAlerts": {},
    "listApprovals": {},
    "listBehavioralMetrics": {"limit": 5},
    "listChannels": {"limit": 5},
    "listConnectors": {},
    "listContactPolicies": {"limit": 5},
    "listContentItems": {"limit": 5},
    "listContentSources": {},
    "listContentTemplates": {},
    "listCreatives": {"offerId": OFFER},
    "listCustomerSuppressions": {"customerId": CUSTOMER},
    "listDecisionFlows": {"status": "active"},
    "listDecisionTraces": {"limit": 5, "customerId": CUSTOMER},
    "listExperiments": {},
    "listFlowPipelineVersions": {"pipelineId": "$pipeline"},
    "listFlowRuns": {"pipelineId": "$pipeline", "limit": 5},
    "listGroupAllocationStrategies": {},
    "listJourneys": {"limit": 5},
    "listModels": {"limit": 5},
    "listOffers": {"limit": 3, "status": "active"},
    "listOutcomeTypes": {},
    "listPipelines": {},
    "listPredictors": {"modelId": SCORECARD},
    "listQualificationRules": {"limit": 5},
    "listRankMethods": {},
    "listSchemas": {},
    "listScoringMethods": {},
    "listTransformTypes": {},
    "listTriggers": {"limit": 5},
    "listV2NodeTypes": {"phase": "narrow"},
    "parseRuleText": {"text": "customers older than 25 with income above 50000"},
    "playbook_audit_tenant_data_health": {},
    "playbook_explain_algorithm_upgrade": {"modelId": SCORECARD},
    "playbook_explain_decision_chain": {"traceId": "$trace", "modes": ["agent"]},
    "playbook_simulate_weight_change": {"weights": {"propensity": 0.5}, "traceLimit": 50},
    "previewBehavioralMetric": {"metricId": METRIC, "limit": 5},
    "previewSchemaData": {"schemaId": SCHEMA, "limit": 5},
    "proposePipelineIrPatch": {"pipelineId": "$pipeline", "instruction": "add a sink node"},
    "queryAuditLog": {"limit": 5},
    "queryInteractionHistory": {"customerId": CUSTOMER, "limit": 5},
    "queryMetric": {"metric": "ctr", "period": "week"},
    "runAiAnalysis": {"type": "policies"},
    "runHealthCheck": {},
    "searchDocs": {"query": "contact policy", "limit": 3},
    "setRoute": {"route": "/"},
    "simulateFrequencyCapChange": {"channel": EMAIL, "currentCap": 3, "newCap": 1, "period": "week"},
    "simulateRuleChange": {"ruleId": RULE, "proposedChange": {"field": "value", "newValue": 30}},
    "suggestModelImprovements": {"modelId": SCORECARD},
    "traceCustomerJourney": {"customerId": CUSTOMER, "limit": 5},
}


# ---- write tools ----------------------------------------------------------------------------
def item_ids(page: Any) -> set[str]:
    return {item["id"] for item in page["items"]}


def listed(result: Args, readback: Any) -> None:
    """The readback list page holds the entity the write returned."""
    assert result["id"] in item_ids(readback), f"{result['id']} not listed"


def same_id(result: Args, readback: Any) -> None:
    assert readback is not None and readback["id"] == result["id"]


def field_is(name: str, value: Any) -> Check:
    def check(result: Args, readback: Any) -> None:
        assert readback is not None and readback[name] == value, (name, readback and readback.get(name))

    return check


def listed_with(name: str, value: Any) -> Check:
    """The readback page holds the updated entity with ``name == value``."""

    def check(result: Args, readback: Any) -> None:
        rows = [i for i in readback["items"] if i["id"] == result["id"]]
        assert rows and rows[0][name] == value, (name, rows)

    return check


def plan(result: Args, readback: Any) -> None:
    """A playbook dry run: flagged as such, nothing applied, the planned changes listed."""
    assert result["dryRun"] is True and result["applied"] is False, result
    assert isinstance(result["plan"], list), result


def non_empty_plan(result: Args, readback: Any) -> None:
    plan(result, readback)
    assert result["plan"] and all("tool" in step for step in result["plan"]), result["plan"]


def dry_run_wrote_nothing(result: Args, readback: Any) -> None:
    non_empty_plan(result, readback)
    assert "Sweep Campaign Offer" not in _json(readback), "the dry run created the offer"


@dataclass(frozen=True)
class WriteExample:
    tool: str
    args: Args
    #: state key -> dotted path into the result ("id", "connector.id")
    capture: dict[str, str] = field(default_factory=dict)
    #: ("tool", name, args) or ("db", table, id) read after the write; placeholders resolved
    readback: tuple[str, str, Any] | None = None
    check: Check | None = None
    label: str = ""

    @property
    def case(self) -> str:
        return f"{self.tool}-{self.label}" if self.label else self.tool


W = WriteExample
WRITE_EXAMPLES: list[WriteExample] = [
    W(
        "updateTenantSettings",
        {"settings": {"aiAnalyzerSettings": {"llmExplanationsEnabled": True}}},
        readback=("tool", "getTenantSettings", {}),
        check=lambda r, b: _assert(_dig(b, "settings.aiAnalyzerSettings.llmExplanationsEnabled") is True, b),
    ),
    W(
        "updateAnalyzerSettings",
        {"policy": {"dailyCap": 2, "weeklyCap": 8, "monthlyCap": 20}},
        readback=("tool", "getAnalyzerSettings", {}),
        check=lambda r, b: _assert(_dig(b, "policy.dailyCap") == 2, b),
    ),
    W(
        "createCategory",
        {"name": "Sweep Category"},
        capture={"cat": "id"},
        readback=("db", "categories", "$cat"),
        check=field_is("name", "Sweep Category"),
    ),
    W(
        "createSubCategory",
        {"categoryId": "$cat", "name": "Sweep Sub"},
        capture={"sub": "id"},
        readback=("db", "sub_categories", "$sub"),
        check=field_is("name", "Sweep Sub"),
    ),
    W(
        "createChannel",
        {"name": "Sweep Channel", "channelType": "web", "status": "active"},
        capture={"channel": "id"},
        readback=("tool", "listChannels", {"limit": 100}),
        check=listed,
    ),
    W(
        "createPlacement",
        {"name": "Sweep Slot", "channelId": "$channel", "slotType": "card", "maxSlots": 2},
        capture={"placement": "id"},
        readback=("db", "placements", "$placement"),
        check=field_is("max_slots", 2),
    ),
    W(
        "createOffer",
        {"name": "Sweep Offer", "categoryId": "$cat", "subCategoryId": "$sub", "status": "active"},
        capture={"offer": "id"},
        readback=("tool", "getOffer", {"offerId": "$offer"}),
        check=field_is("name", "Sweep Offer"),
    ),
    W(
        "updateOffer",
        {"offerId": "$offer", "priority": 77},
        readback=("tool", "getOffer", {"offerId": "$offer"}),
        check=field_is("priority", 77),
    ),
    W(
        "createCreative",
        {
            "name": "Sweep Banner",
            "offerId": "$offer",
            "channelId": "$channel",
            "templateType": "web_banner",
            "content": {"headline": "Hi", "body": "Sweep"},
        },
        capture={"creative": "id"},
        readback=("tool", "listCreatives", {"offerId": "$offer"}),
        check=listed,
    ),
    W(
        "updateCreative",
        {"creativeId": "$creative", "weight": 40},
        readback=("tool", "listCreatives", {"offerId": "$offer"}),
        check=listed_with("weight", 40),
    ),
    W(
        "updateChannel",
        {"channelId": "$channel", "description": "swept"},
        readback=("tool", "listChannels", {"limit": 100}),
        check=listed_with("description", "swept"),
    ),
    W(
        "createQualificationRule",
        {
            "name": "Sweep adults",
            "ruleType": "attribute_condition",
            "config": {"attribute": "customer.age", "operator": "gte", "value": 21},
            "scope": "offer",
            "scopeId": "$offer",
        },
        capture={"rule": "id"},
        readback=("tool", "listQualificationRules", {"limit": 100}),
        check=listed,
    ),
    W(
        "updateQualificationRule",
        {"ruleId": "$rule", "priority": 61},
        readback=("tool", "listQualificationRules", {"limit": 100}),
        check=listed_with("priority", 61),
    ),
    W(
        "createContactPolicy",
        {"name": "Sweep cap", "ruleType": "frequency_cap", "config": {"maxPerWeek": 5}, "scope": "global"},
        capture={"policy": "id"},
        readback=("tool", "listContactPolicies", {"limit": 100}),
        check=listed,
    ),
    W(
        "updateContactPolicy",
        {"policyId": "$policy", "priority": 71},
        readback=("tool", "listContactPolicies", {"limit": 100}),
        check=listed_with("priority", 71),
    ),
    W(
        "createJourney",
        {"name": "Sweep journey", "maxDurationDays": 10},
        capture={"journey": "id"},
        readback=("tool", "listJourneys", {"limit": 100}),
        check=listed,
    ),
    W(
        "updateJourney",
        {"journeyId": "$journey", "description": "swept"},
        readback=("tool", "listJourneys", {"limit": 100}),
        check=listed_with("description", "swept"),
    ),
    W(
        "createTrigger",
        {
            "name": "Sweep trigger",
            "eventType": "purchase",
            "actionType": "enroll_journey",
            "actionConfig": {"journeyId": "$journey"},
        },
        capture={"trigger": "id"},
        readback=("tool", "listTriggers", {"limit": 100}),
        check=listed,
    ),
    W(
        "createGuardrail",
        {"key": "sweep_guard", "name": "Sweep guard", "severity": "soft"},
        capture={"guardrail": "id"},
        readback=("db", "guardrails", "$guardrail"),
        check=field_is("key", "sweep_guard"),
    ),
    W(
        "createOutcomeType",
        {
            "key": "sweep_outcome",
            "name": "Sweep outcome",
            "classification": "positive",
            "category": "response",
        },
        capture={"outcomeType": "id"},
        readback=("tool", "listOutcomeTypes", {}),
        check=listed,
    ),
    W(
        "createDecisionFlow",
        {"key": "sweep-flow", "name": "Sweep flow"},
        capture={"flow": "id"},
        readback=("tool", "getDecisionFlow", {"key": "sweep-flow"}),
        check=same_id,
    ),
    W(
        "updateDecisionFlow",
        {"flowId": "$flow", "description": "swept"},
        readback=("tool", "getDecisionFlow", {"flowId": "$flow"}),
        check=field_is("description", "swept"),
    ),
    W(
        "createV2DecisionFlow",
        {"key": "sweep-v2", "name": "Sweep v2", "maxCandidates": 3},
        capture={"flow2": "id"},
        readback=("tool", "getDecisionFlow", {"flowId": "$flow2"}),
        check=same_id,
    ),
    W(
        "addPipelineNode",
        {"flowId": "$flow2", "type": "filter", "config": {}, "nodeId": "sweep_filter"},
        readback=("tool", "getDecisionFlow", {"flowId": "$flow2"}),
        check=lambda r, b: _assert("sweep_filter" in _json(b), "node not in flow"),
    ),
    W(
        "updatePipelineNode",
        {"flowId": "$flow2", "nodeId": "sweep_filter", "config": {"note": "swept"}},
        readback=("tool", "getDecisionFlow", {"flowId": "$flow2"}),
        check=lambda r, b: _assert('"swept"' in _json(b), "node config not updated"),
    ),
    W(
        "removePipelineNode",
        {"flowId": "$flow2", "nodeId": "sweep_filter"},
        readback=("tool", "getDecisionFlow", {"flowId": "$flow2"}),
        check=lambda r, b: _assert("sweep_filter" not in _json(b), "node still in flow"),
    ),
    W(
        "publishDecisionFlow",
        {"flowId": "$flow2", "notes": "sweep"},
        readback=("db", "decision_flow_versions", None),
        check=lambda r, b: _assert(
            r["publishedVersion"] == 1 and any(v["flow_id"] == r["id"] and v["version"] == 1 for v in b), b
        ),
    ),
    W(
        "createSchema",
        {
            "name": "sweep_members",
            "displayName": "Sweep members",
            "entityType": "custom",
            "fields": [
                {"name": "customer_id", "isPrimaryKey": True},
                {"name": "mail"},
                {"name": "age", "dataType": "integer"},
                {"name": "tier"},
            ],
        },
        capture={"schema": "id"},
        readback=("tool", "getSchemaFields", {"schemaId": "$schema"}),
        check=lambda r, b: _assert("tier" in _json(b), b),
    ),
    W(
        "addSchemaField",
        {"schemaId": "$schema", "field": {"name": "note", "dataType": "varchar", "isNullable": True}},
        readback=("tool", "getSchemaFields", {"schemaId": "$schema"}),
        check=lambda r, b: _assert('"note"' in _json(b), b),
    ),
    W(
        "insertSchemaRows",
        {
            "schemaId": "$schema",
            "rows": [{"customer_id": "X1", "mail": "x@example.com", "age": 40, "tier": "g"}],
        },
        readback=("tool", "previewSchemaData", {"schemaId": "$schema"}),
        check=lambda r, b: _assert("x@example.com" in _json(b), b),
    ),
    W(
        "createConnector",
        {"name": "sweep upload", "type": "csv_upload"},
        capture={"connector": "id"},
        readback=("tool", "listConnectors", {"limit": 100}),
        check=listed,
    ),
    W(
        "updateConnector",
        {"connectorId": "$connector", "description": "swept"},
        readback=("tool", "listConnectors", {"limit": 100}),
        check=listed_with("description", "swept"),
    ),
    W(
        "testConnector",
        {"connectorId": "$connector"},
        readback=("db", "connectors", "$connector"),
        check=lambda r, b: _assert(b["last_test_at"] is not None and b["last_test_status"] == r["status"], b),
    ),
    W(
        "createYamlConnector",
        {"yaml": YAML_CONNECTOR},
        capture={"yamlConnector": "connector.id"},
        readback=("tool", "listConnectors", {"limit": 100}),
        check=lambda r, b: _assert(r["connector"]["id"] in item_ids(b), b),
    ),
    W(
        "testFlowConnector",
        {"connectorId": "$yamlConnector"},
        check=lambda r, b: _assert("reachable" in r or "status" in r, r),
    ),
    W(
        "createFlowPipeline",
        {"name": "sweep load", "connectorId": "$connector", "schemaId": "$schema", "ir": pipeline_ir()},
        capture={"pipeline": "id"},
        readback=("tool", "listPipelines", {"limit": 100}),
        check=listed,
    ),
    W(
        "updateFlowPipeline",
        {"pipelineId": "$pipeline", "ir": pipeline_ir(SOURCE_ROWS[:2]), "comment": "two rows"},
        readback=("tool", "listFlowPipelineVersions", {"pipelineId": "$pipeline"}),
        check=lambda r, b: _assert("two rows" in _json(b), b),
    ),
    W(
        "applyPipelineIrPatch",
        {
            "pipelineId": "$pipeline",
            "patch": [{"op": "replace", "path": "/nodes/0/config/rows", "value": SOURCE_ROWS}],
            "comment": "patched",
        },
        readback=("tool", "listFlowPipelineVersions", {"pipelineId": "$pipeline"}),
        check=lambda r, b: _assert("patched" in _json(b), b),
    ),
    W(
        "runFlowPipeline",
        {"pipelineId": "$pipeline"},
        capture={"run": "id"},
        readback=("tool", "getFlowRunProgress", {"runId": "$run", "pipelineId": "$pipeline"}),
        check=lambda r, b: _assert(b["status"] == r["status"], (r, b)),
    ),
    W(
        "replayFlowRun",
        {"runId": "$run"},
        readback=("tool", "listFlowRuns", {"pipelineId": "$pipeline"}),
        check=lambda r, b: _assert(r["id"] in item_ids(b) and len(b["items"]) == 2, b),
    ),
    W(
        "createBehavioralMetric",
        {"name": "sweep_positive_30d", "aggregateFunction": "count", "sourceField": "positive"},
        capture={"metric": "id"},
        readback=("tool", "listBehavioralMetrics", {"limit": 100}),
        check=listed,
    ),
    W(
        "computeBehavioralMetrics",
        {"metricId": "$metric"},
        readback=("db", "metric_values", None),
        check=lambda r, b: _assert(
            len([v for v in b if v["metric_id"] == r["metrics"][0]["metricId"]])
            == r["metrics"][0]["inserted"]
            > 0,
            r,
        ),
    ),
    W(
        "createMetricRule",
        {"metricId": "$metric", "operator": "lt", "value": 100, "name": "Sweep metric rule"},
        capture={"metricRule": "id"},
        readback=("tool", "listQualificationRules", {"limit": 100}),
        check=listed,
    ),
    W(
        "createAlertRule",
        {
            "name": "sweep ctr",
            "metric": "ctr",
            "operator": "gt",
            "threshold": 0.99,
            "channels": [{"type": "webhook", "target": "http://127.0.0.1:9/hook"}],
        },
        capture={"alert": "id"},
        readback=("tool", "listAlerts", {}),
        check=lambda r, b: _assert(r["id"] in _json(b), b),
    ),
    W(
        "createContentItem",
        {"name": "Sweep email", "channelType": "email", "content": {"subject": "Hi", "body": "Sweep"}},
        capture={"content": "id"},
        readback=("tool", "getContentItem", {"contentItemId": "$content"}),
        check=same_id,
    ),
    W(
        "updateContentItem",
        {"contentItemId": "$content", "description": "swept"},
        readback=("tool", "getContentItem", {"contentItemId": "$content"}),
        check=field_is("description", "swept"),
    ),
    W(
        "publishContentItem",
        {"contentItemId": "$content", "action": "submit"},
        readback=("tool", "getContentItem", {"contentItemId": "$content"}),
        check=field_is("status", "in_review"),
    ),
    W(
        "syncContentSource",
        {"sourceId": "$source"},
        readback=("tool", "listContentItems", {"sourceType": "contentful"}),
        check=lambda r, b: _assert("Sweep CMS item" in _json(b), b),
    ),
    W(
        "createModel",
        {"key": "sweep-model", "name": "Sweep model", "modelType": "scorecard", "status": "active"},
        capture={"model": "id"},
        readback=("tool", "getModel", {"modelId": "$model"}),
        check=same_id,
    ),
    W(
        "updateModelConfig",
        {"modelId": "$model", "description": "swept"},
        readback=("tool", "getModel", {"modelId": "$model"}),
        check=field_is("description", "swept"),
    ),
    W(
        "updatePredictors",
        {"modelId": "$model", "predictors": ["age", "income"]},
        readback=("tool", "listPredictors", {"modelId": "$model"}),
        check=lambda r, b: _assert("income" in _json(b["predictors"]), b),
    ),
    W(
        "promoteModel",
        {"modelId": "$model", "targetStatus": "shadow", "reason": "sweep"},
        readback=("tool", "getModel", {"modelId": "$model"}),
        check=lambda r, b: _assert("shadow" in _json(b), b),
    ),
    W(
        "trainModel",
        {"modelId": BAYES, "sampleLimit": 500},
        readback=("tool", "getModel", {"modelId": BAYES}),
        check=lambda r, b: _assert(r["version"] is not None and r["modelId"] == b["id"], (r, b)),
    ),
    W(
        "resetModelLearning",
        {"modelId": BAYES},
        readback=("db", "model_versions", None),
        check=lambda r, b: _assert(
            any(v["model_id"] == BAYES and v["version"] == r["snapshotVersion"] for v in b),
            "no snapshot stored",
        ),
    ),
    W(
        "scoreCustomer",
        {"modelId": SCORECARD, "customerId": CUSTOMER},
        check=lambda r, b: _assert(isinstance(r.get("score"), int | float), r),
    ),
    W(
        "createExperiment",
        {
            "key": "sweep-exp",
            "name": "Sweep experiment",
            "championModelId": SCORECARD,
            "challengers": [{"modelId": "$model", "trafficPct": 10}],
            "trafficSplit": {"championPct": 90},
        },
        capture={"experiment": "id"},
        readback=("tool", "listExperiments", {"limit": 100}),
        check=listed,
    ),
    W(
        "recommend",
        {"customerId": RECOMMENDED, "channel": EMAIL, "limit": 3, "decisionFlowKey": FLOW_KEY},
        capture={
            "trace": "traceId",
            "recommendation": "recommendationId",
            "traceOffer": "decisions.0.offerId",
        },
        readback=("tool", "getDecisionTrace", {"traceId": "$trace"}),
        check=lambda r, b: _assert(r["decisions"] and b["id"] == r["traceId"], (r, b)),
    ),
    W(
        "recordOutcome",
        {
            "customerId": RECOMMENDED,
            "idempotencyKey": "sweep-outcome-1",
            "recommendationId": "$recommendation",
            "offerId": "$traceOffer",
            "channelId": EMAIL,
            "outcome": "click",
        },
        readback=("tool", "queryInteractionHistory", {"customerId": RECOMMENDED, "limit": 200}),
        check=lambda r, b: _assert(r["interactionId"] in item_ids(b), r),
    ),
    W(
        "decideApproval",
        {"approvalId": "$approval", "action": "approve", "comments": "sweep"},
        readback=("tool", "listApprovals", {"status": "approved"}),
        check=lambda r, b: _assert(r["id"] in item_ids(b), b),
    ),
    W(
        "applyAiRecommendation",
        {"recommendationId": "$airec"},
        readback=("tool", "listAiRecommendations", {"status": "applied"}),
        check=lambda r, b: _assert(r["entityId"] in _json(b), b),
    ),
    W(
        "deleteSchema",
        {"schemaId": "$doomedSchema"},
        readback=("tool", "listSchemas", {"limit": 100}),
        check=lambda r, b: _assert("sweep_doomed" not in _json(b), b),
    ),
    W(
        "deleteEntity",
        {"entityType": "trigger", "id": "$trigger"},
        readback=("tool", "listTriggers", {"limit": 100}),
        check=lambda r, b: _assert(r["id"] not in item_ids(b), b),
    ),
    # playbooks: dry runs return a plan and change nothing; bootstrap is also applied once
    W("playbook_arbitrate_policy_conflict", {"apply": False}, check=plan),
    W(
        "playbook_bootstrap_new_offer_campaign",
        {"categoryName": "Sweep Campaign", "offer": {"name": "Sweep Campaign Offer"}, "channelId": WEB},
        readback=("tool", "listOffers", {"limit": 100}),
        check=dry_run_wrote_nothing,
    ),
    W(
        "playbook_bootstrap_new_offer_campaign",
        {
            "apply": True,
            "categoryName": "Sweep Campaign",
            "offer": {"name": "Sweep Campaign Offer"},
            "channelId": WEB,
        },
        readback=("tool", "listOffers", {"limit": 100}),
        check=lambda r, b: _assert("Sweep Campaign Offer" in _json(b), "apply did not create the offer"),
        label="apply",
    ),
    W(
        "playbook_generate_dsar_export",
        {"customerId": "C-0002"},
        readback=("tool", "queryAuditLog", {"entityType": "customer", "entityId": "C-0002"}),
        check=lambda r, b: _assert(r["counts"]["interactions"] > 0 and r["auditId"] in _json(b), (r, b)),
    ),
    W("playbook_promote_challenger_if_winning", {"experimentId": EXPERIMENT}, check=plan),
    W("playbook_rebuild_offer_qualification", {"offerId": OFFER, "lookbackDays": 30}, check=plan),
    W("playbook_run_shadow_experiment", {"challengerModelId": BAYES, "traceLimit": 50}, check=non_empty_plan),
]

#: (d) arguments naming an unknown id, where the generic derivation (replace the first
#: ``...Id``/``id`` argument of the valid example) does not fit
UNKNOWN_ID_EXAMPLES: dict[str, Args] = {
    "getDecisionFlow": {"key": "no-such-flow"},
    "analyzeQualificationFunnel": {"decisionFlowKey": "no-such-flow"},
    "createSubCategory": {"categoryId": MISSING, "name": "x"},
    "createCreative": {"name": "Sweep ghost", "offerId": MISSING, "channelId": WEB},
    "recordOutcome": {
        "customerId": RECOMMENDED,
        "idempotencyKey": "sweep-unknown-recommendation",
        "recommendationId": MISSING,
        "outcome": "click",
    },
}


#: tools whose required id is a filter, not a thing they act on: an unknown one is a valid empty answer
UNKNOWN_ID_IS_EMPTY: dict[str, str] = {
    "queryInteractionHistory": "customer ids are free-form (recordOutcome accepts any); no history is empty",
    "playbook_generate_dsar_export": "a DSAR on a subject we hold nothing on is a valid empty export",
}


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list):
            data = data[int(part)] if len(data) > int(part) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _assert(condition: Any, detail: Any) -> None:
    assert condition, detail


def _json(data: Any) -> str:
    return json.dumps(data, default=str)


dig = _dig
