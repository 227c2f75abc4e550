"""An agent's own metrics, beside each element's: whether it reaches the database, what it runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class Watched(Protocol):
    """What the collector reads of its agent (connector.service.cluster.agent.Agent)."""

    database_problem: str

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def elements(self) -> Mapping[str, object]: ...

    @property
    def configs(self) -> Mapping[str, object]: ...


DATABASE_UP = "connector_agent_database_up"
ELEMENTS = "connector_agent_elements"
LEASES_TAKEN = "connector_agent_leases_taken"
LEASES_LOST = "connector_agent_leases_lost"


class AgentCollector(Collector):
    def __init__(self, agent: Watched) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        up = GaugeMetricFamily(DATABASE_UP, "1 while the agent's last loop reached the shared database.")
        up.add_metric((), 0.0 if agent.database_problem else 1.0)
        elements = GaugeMetricFamily(ELEMENTS, "Elements by where they run: here, or on standby.", labels=("state",))
        elements.add_metric(("running",), float(len(agent.elements)))
        elements.add_metric(("standby",), float(len(agent.configs) - len(agent.elements)))
        taken = CounterMetricFamily(LEASES_TAKEN, "Element leases this agent took (starts and takeovers).")
        taken.add_metric((), float(agent.counts["taken"]))
        lost = CounterMetricFamily(LEASES_LOST, "Element leases lost without a hand-over (fenced, expired).")
        lost.add_metric((), float(agent.counts["lost"]))
        yield from (up, elements, taken, lost)
