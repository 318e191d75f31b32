"""Relevance on a real IT-ops knowledge base: the Prometheus-operator runbooks in shared data.

Each query paraphrases what an alert means, in words a person on call would use, and must
find that alert's runbook among the top 3 of 117.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from learnloop import LearnLoop
from learnloop.knowledge.markdown import parse_markdown

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
