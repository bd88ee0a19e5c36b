"""What `--json` prints for package and deploy: one object holding what a CI script needs next (paths, sizes,
the URL, the function, the log group, the stack, the auth type). Pure functions of the results."""

from pathlib import Path


def package_json(result) -> dict:
    """A PackageResult (image build context) or a ZipResult (deployment zip)."""
    if hasattr(result, "zipped_bytes"):
        return {"format": "zip", "path": str(result.path), "zipped_bytes": result.zipped_bytes,
                "unzipped_bytes": result.unzipped_bytes, "compiled": result.compiled,
                "requirements": dict(result.requirements), "environment": dict(result.environment)}
    load = result.load
    return {"format": "image", "path": str(result.out), "arch": result.arch,
            "model_bytes": result.model_bytes, "runtime_bytes": result.runtime_bytes,
            "dependency_bytes": result.dependency_bytes,
            "image_added_bytes": result.added_bytes,  # an estimate: on top of the base image
            "requirements": dict(result.requirements),
            "load": {"strategy": load.strategy, "artifact": load.artifact} if load else None}


def synth_json(name: str, result, region: str | None) -> dict:
    """`infer deploy --synth-only`: the template and the assembly to deploy."""
    return {"name": name, "stack": result.stack_name, "region": region, "template": str(result.template_path),
            "assembly": str(result.outdir), "cdk_nag_report": str(Path(result.outdir) / "validation-report.json")}


def deploy_json(name: str, outputs, record: dict) -> dict:
    """`infer deploy`: what was deployed and where, from the stack's outputs and the saved record (with the
    SnapStart qualifier to bench, and the queue, bucket and output when there are sources)."""
    answer = {"name": name, "url": outputs.url, "auth": outputs.auth, "function_name": outputs.function_name,
              "log_group": outputs.log_group, "stack": record.get("stack"), "region": record.get("region"),
              "template": record.get("template"), "assembly": record.get("assembly"), "arch": record.get("arch"),
              "memory_mb": record.get("memory_mb"), "package_format": record.get("package_format")}
    for key in ("function_url", "snapstart", "qualifier", "bench", "queue", "bucket", "output"):
        if key in record:
            answer[key] = record[key]
    return answer
