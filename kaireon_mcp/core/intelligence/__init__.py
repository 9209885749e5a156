"""The intelligence layer: the 16 read-only analyses behind ``POST /api/v1/ai/intelligence``.

Each module is one tool family and returns typed pydantic results (the tools' output schemas):

* ``decisions`` — explainDecision, compareOfferEligibility, listCustomerSuppressions,
  traceCustomerJourney: always the pipeline's own ``decide()`` and evaluators, never a copy.
* ``population`` — analyzeQualificationFunnel, simulateRuleChange: the qualification
  evaluator run over customer rows loaded in batches.
* ``contacts`` — analyzeContactPolicySuppression, simulateFrequencyCapChange: per-customer
  impression counts per calendar window computed in SQL, compared with the caps.
* ``performance`` — analyzeOfferPerformance: one conditional-aggregate query per call.
* ``conflicts`` — analyzePolicyConflicts.
* ``modeling`` — analyzeModelHealth, explainModelScoring, suggestModelImprovements, detectModelDrift.
* ``health`` — runHealthCheck (cached 5 minutes per tenant) and analyzeCrossModule.
"""
