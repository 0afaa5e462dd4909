"""Replay Karbon's public integration suite, every version of it, against the strict FakeKarbon.

Usage: ``python tools/replay_live_suite.py PATH`` where PATH is a git clone (or bare mirror) of
karbonhq/karbon-api-reference. Every distinct request of every version of
``public-api/integration-tests/postman-collection.json`` that asserted a status is sent to a
fresh FakeKarbon, its ``{{variables}}`` bound to the fake's own records, and each answer whose
status the suite did not assert is printed with the request's name and the first and last
commit that held it. This is how the rows of ``karbon_async/testing/_live_behaviours.py`` were
found; what remains printed is explained in that module's docstring (superseded assertions,
keys and emails of Karbon's own test account, requests whose order matters). Reads the
collection at run time; nothing of it is stored in this repository. Needs no network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp

from karbon_async.testing import FakeKarbon

COLLECTION = "public-api/integration-tests/postman-collection.json"
# Endpoints retired before the spec this SDK follows (client portal, v1/v2, status pings).
RETIRED = re.compile(r"/(ClientRequest|ClientTask|SocketManager|MagicLink|NoteComments|api/|v1/)")


def versions(repo: str) -> Iterator[tuple[str, str, Any]]:
    log = subprocess.run(
        ["git", "-C", repo, "log", "--all", "--reverse", "--format=%H %ad", "--date=short",
         "--", COLLECTION],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    for line in filter(None, log):
        sha, day = line.split()
        raw = subprocess.run(
            ["git", "-C", repo, "show", f"{sha}:{COLLECTION}"], capture_output=True, check=True
        ).stdout
        try:
            yield sha[:10], day, json.loads(raw)
        except ValueError:
            continue


def items(node: list[Any], trail: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for item in node:
        if "item" in item:
            yield from items(item["item"], (*trail, item["name"]))
        elif isinstance(item.get("request"), dict):
            yield "/".join((*trail, item.get("name", ""))), item


def asserted(item: Any) -> frozenset[int]:
    text = "\n".join(
        "\n".join(ev.get("script", {}).get("exec", []))
        for ev in item.get("event", [])
        if ev.get("listen") == "test"
    )
    found = set(re.findall(r"have\.status\((\d{3})\)", text))
    for group in re.findall(r"oneOf\(\[([\d, ]+)\]\)", text):
        found |= set(group.replace(" ", "").split(","))
    return frozenset(int(s) for s in found)


def distinct(repo: str) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for sha, day, doc in versions(repo):
        for name, item in items(doc.get("item", [])):
            req = item["request"]
            url = req.get("url")
            url = url.get("raw") if isinstance(url, dict) else url
            body = req.get("body") or {}
            if (
                not url
                or "/v3/" not in url
                or RETIRED.search(url)
                or body.get("mode") == "formdata"
            ):
                continue
            statuses = asserted(item)
            if not statuses:
                continue
            headers = tuple(
                (h.get("key"), h.get("value"))
                for h in req.get("header", [])
                if not h.get("disabled")
            )
            key = (req.get("method"), url, body.get("raw"), statuses, headers)
            entry = seen.setdefault(key, {"name": name, "first": (sha, day)})
            entry["last"] = (sha, day)
    return [
        {"method": k[0], "url": k[1], "body": k[2], "statuses": k[3], "headers": k[4], **v}
        for k, v in sorted(seen.items(), key=lambda kv: kv[1]["last"][1])
    ]


def bindings(fake: FakeKarbon) -> dict[str, str]:
    def first(name: str) -> Any:
        return next(fake.collection(0, name).records())

    def card(record: Any) -> str:
        cards = record.get("BusinessCards") or [record.get("BusinessCard") or {}]
        return str(cards[0].get("BusinessCardKey", "NOCARD"))

    user, contact = first("Users"), first("Contacts")
    org, group, work = first("Organizations"), first("ClientGroups"), first("WorkItems")
    names = {
        "workitem_useremail": user["EmailAddress"], "user_email": user["EmailAddress"],
        "notes_test_user_generatedemail": user["EmailAddress"],
        "user_email_part": user["EmailAddress"][:4], "user_name": user["Name"],
        "user_name_part": user["Name"][:3], "user_permakey": user["Id"],
        "workitem_clientkey": contact["ContactKey"], "contact_permakey": contact["ContactKey"],
        "contactBusinessCard_permakey": contact["ContactKey"],
        "businessCardPermaKey": card(contact),
        "workitem_relatedclientgroupkey": group["ClientGroupKey"],
        "clientgroup_permakey": group["ClientGroupKey"],
        "clientGroupBusinessCard_permakey": group["ClientGroupKey"],
        "businessCardPermaKey_clientGroup": card(group),
        "ClientGroupbusinessCardPermaKey": card(group),
        "organization_permakey": org["OrganizationKey"],
        "organizationBusinessCard_permakey": org["OrganizationKey"],
        "organiztionBusinessCard_permakey": org["OrganizationKey"],
        "businessCardPermaKey_organization": card(org),
        "OrganizationbusinessCardPermaKey": card(org),
        "workitem_permakey": work["WorkItemKey"], "Timesheet_WorkItemKey": work["WorkItemKey"],
        "EstimateSummary_WorkPermaKey": work["WorkItemKey"],
        "workitemschedule_permakey": first("WorkSchedules")["WorkScheduleKey"],
        "worktemplatekey": first("WorkTemplates")["WorkTemplateKey"],
        "Timesheet_Key": first("Timesheets")["TimesheetKey"],
        "workitem_title": work["Title"], "workitem_title_part": work["Title"][:4],
        "workitem_primarystatus": "Planned", "WorkItem_WorkType_PartialSearch": "Tax",
        "clientgroup_userdefinedidentifier": group["UserDefinedIdentifier"],
        "contact_userdefinedidentifier": contact["UserDefinedIdentifier"],
        "test_organization_userdefinedidentifier": org["UserDefinedIdentifier"],
        "contact_commentitem_permaKey": first("Comments")["CommentKey"],
        "hardCodedUrl": "https://hooks.example/a", "randomUrl": "https://hooks.example/b",
        "invalidWebhookType": "Nonsense", "ContactWebhookType": "Contact",
        "WorkWebhookType": "Work", "NoteWebhookType": "Note",
    }  # fmt: skip
    for i in range(1, 5):
        names[f"worktemplate_user{i}"] = user["Id"]
    return {k: str(v) for k, v in names.items()}


def bind(text: str, names: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1).replace("\u200c", "").removeprefix("public.api.")
        if name in names:
            return names[name]
        if name == "$guid" or "uniqueidentifier" in name:
            return str(uuid.uuid4())
        if "generatedemail" in name:
            return f"{uuid.uuid4().hex[:8]}@example.com"
        return f"{name}-{uuid.uuid4().hex[:6]}"

    return re.sub(r"\{\{([^}]+)\}\}", one, text).replace("\u200c", "")


async def replay(requests: list[dict[str, Any]]) -> int:
    differ = 0
    sizes = {"WorkSchedules": 5, "Comments": 5}
    async with (
        FakeKarbon(rate_limit=None, seed=3, size=20, sizes=sizes) as fake,
        aiohttp.ClientSession() as session,
    ):
        names = bindings(fake)
        for r in requests:
            path = bind(r["url"], names).split("/v3/", 1)[1]
            headers = dict(fake.accounts[0].headers)
            for key, value in r["headers"]:
                if key and key.lower() not in ("authorization", "accesskey"):
                    headers[key] = bind(value or "", names)
            data = bind(r["body"], names).encode() if r["body"] else None
            if data:
                headers["Content-Type"] = "application/json"
            url = f"{fake.base_url}/v3/{path}"
            async with session.request(r["method"], url, data=data, headers=headers) as resp:
                text = (await resp.text())[:200].replace("\n", " ")
            if resp.status not in r["statuses"]:
                differ += 1
                print(
                    f"{r['method']} {r['url'][:90]} asserted {sorted(r['statuses'])} got "
                    f"{resp.status} {text} | {r['name']} @{r['first'][0]} ({r['first'][1]}) .. "
                    f"@{r['last'][0]} ({r['last'][1]})"
                )
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="a clone of karbonhq/karbon-api-reference")
    requests = distinct(parser.parse_args().repo)
    differ = asyncio.run(replay(requests))
    print(f"{len(requests)} distinct requests replayed, {differ} answered otherwise")


if __name__ == "__main__":
    main()
