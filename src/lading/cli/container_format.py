"""What `container ps` and `container inspect` print: docker's columns, durations and a
Go-template-like ``--format`` (``{{.Field}}``, ``{{.A.B}}``, ``{{.Label "k"}}``, ``{{json .X}}``,
and a leading ``table`` for aligned columns with a header)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)(?:\s+\"([^\"]*)\")?\s*\}\}")
_HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "Ports": "PORTS",
    "State": "STATE",
    "Labels": "LABELS",
    "Label": "LABEL",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "Size": "SIZE",
}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def parse_time(text: str) -> float:
    """docker's RFC 3339 nanosecond times to seconds since the epoch."""
    from lading.engine.logs import parse_time as parse_ns

    return parse_ns(text) / 1e9


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def status(state: dict[str, Any], now: float) -> str:
    if state["Running"]:
        return f"Up {human_duration(now - parse_time(state['StartedAt']))}"
    if state["Restarting"]:
        return f"Restarting ({state['ExitCode']}) {human_duration(now - parse_time(state['FinishedAt']))} ago"
    if state["Status"] == "created":
        return "Created"
    if state.get("Dead"):
        return "Removal In Progress"
    return f"Exited ({state['ExitCode']}) {human_duration(now - parse_time(state['FinishedAt']))} ago"


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ps_row(c: Any, now: float, no_trunc: bool) -> dict[str, Any]:
    """The fields `ps --format` knows, for one container (``c`` is a containers.Container)."""
    cfg = c.config
    command = " ".join([cfg["Path"], *cfg["Args"]])
    created = parse_time(cfg["Created"])
    labels = cfg["Config"].get("Labels") or {}
    return {
        "ID": c.id if no_trunc else c.id[:12],
        "Names": c.name,
        "Image": cfg["Config"]["Image"],
        "Command": json.dumps(command if no_trunc else _ellipsis(command, 20), ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": f"{human_duration(now - created)} ago",
        "Status": status(cfg["State"], now),
        "State": cfg["State"]["Status"],
        "Ports": "",
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Label": labels,
        "Mounts": ",".join(b.split(":")[1] for b in c.host.get("Binds") or []),
        "Networks": c.host.get("NetworkMode", ""),
        "Size": "",
    }


def _lookup(obj: Any, path: str, arg: str | None) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(part)
        obj = obj[part]
    if arg is not None:
        return obj.get(arg, "") if isinstance(obj, dict) else ""
    return obj


def render(template: str, obj: dict[str, Any]) -> str:
    def field(m: re.Match[str]) -> str:
        try:
            value = _lookup(obj, m.group(2), m.group(3))
        except KeyError as e:
            from lading.errors import LadingError

            raise LadingError(f"template: can't evaluate field {e.args[0]} in {m.group(0)}") from None
        if m.group(1):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return "<no value>" if value is None else str(value)

    return _FIELD.sub(field, template.replace("\\t", "\t").replace("\\n", "\n"))


def table(template: str, rows: list[dict[str, Any]]) -> list[str]:
    """Rows rendered with ``template``; a ``table`` template gets a header and aligned columns."""
    if not template.startswith("table"):
        return [render(template, r) for r in rows]
    body = template[len("table") :].strip() or PS_TABLE[len("table ") :]
    header = _FIELD.sub(lambda m: _HEADERS.get(m.group(2), m.group(2).upper()), body.replace("\\t", "\t"))
    lines = [header.split("\t")] + [render(body, r).split("\t") for r in rows]
    widths = [max(len(line[i]) if i < len(line) else 0 for line in lines) for i in range(max(map(len, lines)))]
    return ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines]
