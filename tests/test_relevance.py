"""Relevance on a real IT-ops knowledge base: the Prometheus-operator runbooks in shared data.

Each query paraphrases what an alert means, in words a person on call would use, and must
find that alert's runbook among the top 3 of 117.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from learnloop import LearnLoop
from learnloop.knowledge.markdown import parse_markdown
from learnloop.recommend import confidence

from .conftest import shared_data

RUNBOOKS = "runbooks/prometheus_operator"  # under ../shared/data

PARAPHRASES = {
    "KubePodCrashLooping": "my container keeps dying and kubernetes keeps restarting it",
    "NodeFilesystemSpaceFillingUp": "the disk on a machine is predicted to run out of space soon",
    "etcdNoLeader": "the etcd cluster has lost its leader after a network partition",
    "KubeClientCertificateExpiration": "the client cert used to talk to the API server "
    "expires in a few days",
    "KubeNodeNotReady": "a worker node is not ready and cannot take new pods",
    "PrometheusRuleFailures": "prometheus cannot evaluate some of its recording rules",
    "CPUThrottlingHigh": "processes are being throttled on CPU because of their limits",
    "AlertmanagerFailedToSendAlerts": "alertmanager cannot deliver notifications to slack "
    "or pagerduty",
    "KubeJobFailed": "a batch job did not complete and ended in failure",
    "KubePersistentVolumeFillingUp": "the persistent volume claim of my database is nearly full",
    "NodeClockNotSynchronising": "the system time on a host is drifting, NTP is not syncing",
    "KubeHpaMaxedOut": "the pod autoscaler has been running at its maximum replica count "
    "for a while",
    "KubeletDown": "monitoring cannot reach any of the kubelets on the nodes",
    "KubeAPIDown": "none of the kubernetes API servers can be reached",
    "KubeQuotaExceeded": "a namespace has hit its hard resource quota",
    "KubeContainerWaiting": "a container has been stuck in the waiting state for a long time",
    "KubeMemoryOvercommit": "pods request more memory than the cluster could handle if a node "
    "went down",
    "etcdHighFsyncDurations": "etcd writes to disk are slow, fsync takes too long",
    "etcdMembersDown": "one of the etcd members is down",
    "TargetDown": "prometheus cannot scrape some of its targets",
    "Watchdog": "the always-firing alert that proves the alerting pipeline works",
    "NodeNetworkReceiveErrs": "the network card reports many errors on incoming packets",
    "PrometheusRemoteWriteBehind": "prometheus is lagging when it sends samples to remote storage",
    "NodeHighNumberConntrackEntriesUsed": "the connection tracking table on a host is nearly full",
    "AlertmanagerConfigInconsistent": "alertmanager instances in the cluster have different "
    "configurations",
}


def load_runbooks(ll: LearnLoop, tenant: str) -> dict[str, int]:
    """Every runbook file as an item; returns item id by alert name (the file stem)."""
    root = shared_data(RUNBOOKS)
    files = sorted(p for p in root.rglob("*.md") if p.name != "_index.md")
    rows = []
    for path in files:
        doc = parse_markdown(path.read_text("utf-8"), fallback_title=path.stem)
        external_id = str(path.relative_to(root))
        rows.append({"kind": "runbook", "external_id": external_id, **doc})
    stored = ll.items.put_many(tenant, rows)
    return {Path(item.external_id or "").stem: item.item_id for item, _ in stored}


@pytest.fixture(scope="module")
def runbooks(ll: LearnLoop) -> tuple[str, dict[str, int]]:
    tenant = ll.tenants.ensure("relevance-runbooks").tenant_id
    return tenant, load_runbooks(ll, tenant)


def test_all_runbooks_import_as_items(ll: LearnLoop, runbooks: tuple[str, dict[str, int]]) -> None:
    tenant, by_alert = runbooks
    assert len(by_alert) == 108  # 117 markdown files less 9 section _index.md pages
    item = ll.items.get(tenant, by_alert["KubePodCrashLooping"])
    assert item.title == "Kube Pod Crash Looping"  # from the front matter
    assert "Meaning" in item.attrs["sections"]


@pytest.mark.parametrize("alert", sorted(PARAPHRASES))
def test_paraphrase_finds_its_runbook_in_top_3(
    ll: LearnLoop, runbooks: tuple[str, dict[str, int]], alert: str
) -> None:
    tenant, by_alert = runbooks
    hits = ll.search.search(tenant, PARAPHRASES[alert], k=3)
    found = [hit.item.title for hit in hits]
    assert by_alert[alert] in [hit.item.item_id for hit in hits], found


OTHER_DOMAIN = (
    "why has my card payment not gone through yet",
    "how do I order a new debit card",
    "what is the weather like on mars",
)


def test_confidence_features_carry_the_keyword_evidence(
    ll: LearnLoop, runbooks: tuple[str, dict[str, int]]
) -> None:
    """Every hit's row has each feature; the keyword share is 1 for the best BM25 hit, the
    fused-score margin is positive for the first hit only, the last feature is log(1 + BM25)."""
    tenant, _ = runbooks
    hits = ll.search.search(tenant, PARAPHRASES["etcdNoLeader"], k=10)
    rows = confidence.features(hits)
    assert len(rows) == len(hits) == 10
    assert all(
        len(row) == len(confidence.FEATURES) == len(confidence.COEFFICIENTS) - 1 for row in rows
    )
    column = {name: n for n, name in enumerate(confidence.FEATURES)}
    keyword = [h.keyword_score or 0.0 for h in hits]
    best = keyword.index(max(keyword))
    assert rows[best][column["keyword_share"]] == 1.0
    assert all(0.0 <= row[column["keyword_share"]] <= 1.0 for row in rows)
    assert rows[0][column["score_margin"]] > 0
    assert all(row[column["score_margin"]] <= 0 for row in rows[1:])
    for row, value in zip(rows, keyword, strict=True):
        assert row[column["keyword_score"]] == pytest.approx(math.log1p(value))


def test_confidence_is_high_for_right_runbooks_and_low_for_another_domain(
    ll: LearnLoop, runbooks: tuple[str, dict[str, int]]
) -> None:
    tenant, by_alert = runbooks
    right = []
    for alert, question in PARAPHRASES.items():
        hits = ll.search.search(tenant, question, k=10)
        if hits[0].item.item_id == by_alert[alert]:
            right.append(confidence.confidences(hits)[0])
    assert len(right) >= 0.6 * len(PARAPHRASES)
    assert sum(right) / len(right) > 0.5
    for question in OTHER_DOMAIN:
        first = confidence.confidences(ll.search.search(tenant, question, k=10))[0]
        assert first < 0.2, (question, first)
