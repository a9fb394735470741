"""When a Kubernetes `up` may skip Pulumi, and when Pulumi must look at the cluster first (a fake
API; the real cluster is tests/e2e/test_kube_up.py, Docker's shortcut tests/e2e/test_docker_*)."""

from __future__ import annotations

import copy
from typing import Any

from stackkit import kube_live, unchanged
from stackkit.config import StackConfig
from stackkit.kube_api import KubeError
from stackkit.state import stack_dir
from tests.test_kube_live import FakeCluster, kube_objects

CFG = StackConfig.model_validate({"target": "kubernetes", "kubernetes": {"namespace": "cc"}})


def _path(objects: list[dict[str, Any]], kind: str, name: str) -> str:
    return next(
        kube_live.api_path(o)
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name
    )


def _recorded() -> tuple[list[dict[str, Any]], FakeCluster]:
    objects = kube_objects()
    cluster = FakeCluster(objects)
    unchanged.record_kubernetes(CFG, "stamp", objects, cluster)  # type: ignore[arg-type]
    return objects, cluster


def compare(stamp: str, objects: list[dict[str, Any]], cluster: Any) -> str:
    return unchanged.compare_kubernetes(CFG, stamp, objects, cluster)


def test_nothing_recorded_goes_through_pulumi() -> None:
    objects = kube_objects()
    assert compare("stamp", objects, FakeCluster(objects)) == "changed"


def test_the_same_deploy_on_an_untouched_cluster_is_unchanged() -> None:
    objects, cluster = _recorded()
    assert compare("stamp", objects, cluster) == "unchanged"


def test_the_record_holds_no_secret_value() -> None:
    objects, _ = _recorded()
    record = (stack_dir(CFG.name) / unchanged.RECORDS["kubernetes"]).read_text()
    secrets = [v for o in objects if o["kind"] == "Secret" for v in o["stringData"].values()]
    assert secrets and not any(v in record for v in secrets)
    live = [v for o in objects if o["kind"] == "Secret" for v in FakeCluster([o]).live.values()]
    assert not any(str(v["data"]) in record for v in live)


def test_an_edit_or_a_deletion_by_hand_is_drift() -> None:
    objects, cluster = _recorded()
    cluster.live[_path(objects, "Deployment", "grafana")]["spec"]["replicas"] = 0
    assert compare("stamp", objects, cluster) == "drifted"
    objects, cluster = _recorded()
    del cluster.live[_path(objects, "NetworkPolicy", "prometheus")]
    assert compare("stamp", objects, cluster) == "drifted"


def test_a_new_config_is_a_change_and_drift_still_counts_where_it_did_not_change() -> None:
    objects, cluster = _recorded()
    new = copy.deepcopy(objects)
    grafana = _path(objects, "Deployment", "grafana")
    for o in new:
        if kube_live.api_path(o) == grafana:
            o["spec"]["replicas"] = 2
    # The object the new config changes was edited too: Pulumi updates it anyway.
    cluster.live[grafana]["spec"]["replicas"] = 5
    assert compare("other", new, cluster) == "changed"
    # An object the new config keeps as it was, deleted by hand: Pulumi must see that first.
    del cluster.live[_path(objects, "ConfigMap", "otelcol-config")]
    assert compare("other", new, cluster) == "drifted"


def test_an_object_added_or_removed_is_a_change() -> None:
    objects, cluster = _recorded()
    assert compare("stamp", objects[:-1], cluster) == "changed"
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "cc"}}
    assert compare("stamp", [*objects, extra], cluster) == "changed"


def test_a_cluster_that_cannot_be_read_goes_through_pulumi() -> None:
    objects, cluster = _recorded()

    def refuse(paths: list[str]) -> list[tuple[int, Any]]:
        raise KubeError("the Kubernetes API does not answer")

    cluster.get_many = refuse  # type: ignore[method-assign]
    assert compare("stamp", objects, cluster) == "changed"


def test_a_damaged_record_goes_through_pulumi() -> None:
    objects, cluster = _recorded()
    record = stack_dir(CFG.name) / unchanged.RECORDS["kubernetes"]
    for damaged in ("", "[]", '{"objects": []}', '{"objects": {"/api/v1/x": 3}}', "{"):
        record.write_text(damaged)
        assert compare("stamp", objects, cluster) == "changed", damaged


def test_down_forgets_both_targets_records() -> None:
    _recorded()
    unchanged.forget(CFG)
    assert not any((stack_dir(CFG.name) / name).exists() for name in unchanged.RECORDS.values())
