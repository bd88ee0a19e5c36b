"""`infer list`: the deployments recorded on this machine and, with `--remote`, the CloudFormation stacks
infer made in a region (the stack tag `infer:model`, which every infer stack carries)."""

from dataclasses import asdict, dataclass

from . import DeployError, state

TAG = "infer:model"  # set by infer_cdk's InferStack on every stack it makes
COLUMNS = ("name", "region", "url", "auth", "arch", "memory_mb", "package_format", "deployed_at")


@dataclass(frozen=True)
class RemoteStack:
    stack: str
    status: str
    region: str
    url: str
    auth: str
    function_name: str
    created_at: str
    recorded_as: str  # the local deployment name that points at this stack, or ""

    def as_json(self) -> dict:
        return asdict(self)


def local() -> list[dict]:
    """One row per deployment record, with the COLUMNS (blank where an older record lacks one)."""
    rows = []
    for name, record in sorted(state.load_all().items()):
        if isinstance(record, dict):
            rows.append({"name": name, **{k: record.get(k) for k in COLUMNS[1:]},
                         **{k: record.get(k) for k in ("stack", "function_name", "log_group", "profile")}})
    return rows


def remote(region: str | None, profile: str | None, session=None) -> list[RemoteStack]:
    """Stacks tagged infer:model in the region (not deleted), oldest first."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise DeployError("infer list --remote needs boto3: pip install 'infer[deploy]'", 2) from None
    try:
        session = session or boto3.Session(profile_name=profile, region_name=region)
        region = session.region_name
        if not region:
            raise DeployError("infer list --remote needs a region: pass --region, or set AWS_REGION", 2)
        stacks = []
        for page in session.client("cloudformation").get_paginator("describe_stacks").paginate():
            stacks += page.get("Stacks", [])
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"cannot list CloudFormation stacks in {region}: {exc}") from None
    recorded = {r.get("stack"): name for name, r in state.load_all().items()
                if isinstance(r, dict) and r.get("region") in (None, region)}
    found = []
    for stack in stacks:
        tags = {t.get("Key"): t.get("Value") for t in stack.get("Tags") or []}
        if TAG not in tags or stack.get("StackStatus") == "DELETE_COMPLETE":
            continue
        outputs = {o.get("OutputKey"): o.get("OutputValue") for o in stack.get("Outputs") or []}
        created = stack.get("CreationTime")
        found.append(RemoteStack(
            stack=stack["StackName"], status=stack.get("StackStatus", ""), region=region,
            url=outputs.get("FunctionUrl") or "", auth=outputs.get("AuthType") or "",
            function_name=outputs.get("FunctionName") or "",
            created_at=created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else str(created or ""),
            recorded_as=recorded.get(stack["StackName"], "")))
    return sorted(found, key=lambda s: (s.created_at, s.stack))


def table(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Plain columns, padded; '-' for blanks."""
    cells = [[str(row.get(c)) if row.get(c) not in (None, "") else "-" for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines)
