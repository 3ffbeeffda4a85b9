"""`emgis reports`: field reports (灾害信息员) — list, township summary, verify / reject, and
`emgis reports hazard ID` to make a hazard report a hazard.

Reports are posted from the phone page (``/field``) or ``POST /field-reports``; this is the
desk's side. Not `emgis report` (api/cli/documents.py: the documents for the plan). The logic
is `emgis.risk.field_reports`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from emgis.api.cli.base import _report_input_error, _settings, app, console, err
from emgis.layers.problems import InputError, NotFound

reports_app = typer.Typer(help="Field reports from the phone page (隐患上报, 灾情快报): list, "
                               "summary by township, verify or reject, make a hazard. The "
                               "coverage, risk and readiness documents are `emgis report`.",
                          no_args_is_help=True)
app.add_typer(reports_app, name="reports")


def _cell(v: object) -> str:
    return "—" if v is None else str(v)


@reports_app.command("list")
def reports_list(
    state: Annotated[str | None, typer.Option(
        help="initial | follow_up | verified | rejected")] = None,
    kind: Annotated[str | None, typer.Option(help="hazard | quick_report")] = None,
    township: Annotated[str | None, typer.Option(help="a township's division code")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The field reports, newest first (counts: — = not reported)."""
    from emgis.layers.db import open_database
    from emgis.risk import field_reports as fr

    for opt, v, allowed in (("--state", state, fr.STATES), ("--kind", kind, fr.KINDS)):
        if v is not None and v not in allowed:
            err.print(f"[red]{opt} {escape(v)}[/] is not one of {', '.join(allowed)}")
            raise typer.Exit(2)
    with open_database() as db:
        rows = fr.list_reports(db.engine, state=state, kind=kind, township=township)
    if as_json:
        console.print_json(json.dumps(rows, ensure_ascii=False, default=str))
        return
    t = Table("id", "kind", "state", "reported", "reporter", "township", "place", "type",
              *[fr.COUNT_ZH[k] for k in fr.COUNTS], title="现场报告 field reports")
    for r in rows:
        t.add_row(str(r["id"]), fr.KIND_ZH[r["kind"]], fr.STATE_ZH[r["state"]],
                  f"{r['reported_at']:%m-%d %H:%M}", escape(r["reporter"]),
                  _cell(r["township_code"]), escape(_cell(r["place"])),
                  escape(_cell(r["incident_type"])), *[_cell(r[k]) for k in fr.COUNTS])
    console.print(t)


@reports_app.command("summary")
def reports_summary(
    by: Annotated[str, typer.Option(help="township (the only grouping)")] = "township",
) -> None:
    """Reports and reported counts by township; '+n?' = n quick reports did not give it."""
    from emgis.layers.db import open_database
    from emgis.risk import field_reports as fr

    if by != "township":
        err.print(f"[red]--by {escape(by)}[/]: only township")
        raise typer.Exit(2)
    with open_database() as db:
        rows = fr.summary_by_township(db.engine)
    t = Table("township", "reports", "quick", "hazard", "verified", "rejected",
              *[fr.COUNT_ZH[k] for k in fr.COUNTS], title="按乡镇汇总 summary by township")
    for r in rows:
        name = (f"{r['township_name'] or ''} {r['township_code']}" if r["township_code"]
                else "不在任何乡镇 in no township")

        def count(k: str, r: dict = r) -> str:
            unk = r[f"{k}_unknown"]
            return _cell(r[k]) + (f" +{unk}?" if unk else "")
        t.add_row(escape(name), str(r["reports"]), str(r["quick_reports"]),
                  str(r["hazard_reports"]), str(r["verified"]), str(r["rejected"]),
                  *[count(k) for k in fr.COUNTS])
    console.print(t)


@reports_app.command("verify")
def reports_verify(
    report: Annotated[int, typer.Argument(help="the report's id")],
    reject: Annotated[bool, typer.Option(help="the report is untrue (不属实)")] = False,
    note: Annotated[str | None, typer.Option(help="how it was checked")] = None,
) -> None:
    """Verify a report (核实), or reject it with --reject; both are final."""
    from emgis.layers.db import open_database
    from emgis.risk import field_reports as fr

    _, ls = _settings()
    with open_database() as db:
        try:
            row = fr.update_report(db.engine, report, to_state="rejected" if reject
                                   else "verified", values={}, actor=ls.actor, note=note)
        except InputError as exc:
            _report_input_error(exc, "nothing was changed")
            raise typer.Exit(2) from None
        except NotFound as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(2) from None
    console.print(f"report {row['id']}: {fr.STATE_ZH[row['state']]} {row['state']}")


@reports_app.command("hazard")
def reports_hazard(
    report: Annotated[int, typer.Argument(help="a hazard report's id")],
    title: Annotated[str | None, typer.Option(help="the hazard's title")] = None,
) -> None:
    """Make a hazard report (隐患上报) a hazard (state discovered, id FR-<report>)."""
    from emgis.layers.db import open_database
    from emgis.risk import field_reports as fr

    _, ls = _settings()
    with open_database() as db:
        try:
            ans = fr.promote_to_hazard(db.engine, report, actor=ls.actor, title=title)
        except InputError as exc:
            _report_input_error(exc, "nothing was changed")
            raise typer.Exit(2) from None
        except NotFound as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(2) from None
    console.print(f"report {report} is hazard {ans['hazard_ext_id']} (discovered); move it with "
                  f"`emgis hazard move {ans['hazard_ext_id']} confirmed`")
