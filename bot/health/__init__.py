"""Health: the probes' shared vocabulary (states, results, the report) and running them at once."""

from bot.health.report import (
    COMPONENTS,
    LOCAL_COMPONENTS,
    HealthProbe,
    STATE_ICONS,
    HealthReport,
    ProbeResult,
    SharedHealth,
    State,
    Stopwatch,
    describe_error,
    failed_probe,
    run_health_check,
    worst,
)

__all__ = [
    "COMPONENTS", "LOCAL_COMPONENTS",
    "STATE_ICONS", "HealthProbe", "HealthReport", "ProbeResult", "SharedHealth", "State", "Stopwatch",
    "describe_error", "failed_probe", "run_health_check", "worst",
]
